"""Citizens' sign-in through a real OpenID provider (oidc-provider on loopback)."""

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.conf import settings
from django.db import transaction

from identity.conftest import SNILS, drive_provider, free_port, local_path
from protokol.accounts import identifiers
from protokol.accounts.models import ExternalIdentity, Provider, Role, User
from protokol.accounts.services import create_user
from protokol.consultations import services
from protokol.consultations.models import Consultation
from protokol.journal.models import JournalAction, JournalEntry

pytestmark = pytest.mark.django_db

START = "/login/oidc/citizen/"


def start(client) -> str:
    response = client.get(START)
    assert response.status_code == 302
    return response["Location"]


def sign_in(client, login: str, password: str):
    callback = drive_provider(start(client), login, password)
    return client.get(local_path(callback))


def placeholder_with_consultation(snils: str = SNILS):
    """An imported citizen's placeholder account with SNILS and one consultation."""
    with transaction.atomic():
        placeholder = create_user(
            "imported-0001", role=Role.CITIZEN, password=None, placeholder=True
        )
    identifiers.set_identifiers(placeholder, {"snils": snils})
    consultation = services.create_consultation(
        placeholder,
        service_code="GEN",
        subject="Импортированное обращение",
        description="Обращение из портала.",
    )
    return placeholder, consultation


def test_authorization_request_uses_pkce_state_nonce(client, citizen_oidc):
    url = urlsplit(start(client))
    params = parse_qs(url.query)

    assert f"{url.scheme}://{url.netloc}" == citizen_oidc.issuer
    assert params["code_challenge_method"] == ["S256"]
    assert len(params["code_challenge"][0]) >= 43
    assert params["state"][0]
    assert params["nonce"][0]
    assert params["response_type"] == ["code"]
    assert "openid" in params["scope"][0].split()


def test_first_sign_in_creates_citizen(client, citizen_oidc):
    response = sign_in(client, "anna", "anna-pass")

    assert response.status_code == 302
    assert response["Location"] == "/"
    identity = ExternalIdentity.objects.get(subject="anna")
    user = identity.user
    assert identity.provider == Provider.CITIZEN_OIDC
    assert identity.issuer == citizen_oidc.issuer
    assert identity.verified is True
    assert user.role == Role.CITIZEN
    assert user.first_name == "Анна Сергеевна"
    assert user.last_name == "Иванова"
    assert not user.has_usable_password()
    assert identifiers.read_identifiers(user, via="test") == {"snils": SNILS}
    assert client.get("/my/").status_code == 200


def test_first_sign_in_is_journaled(client, citizen_oidc):
    sign_in(client, "anna", "anna-pass")

    user = ExternalIdentity.objects.get(subject="anna").user
    login = JournalEntry.objects.filter(action=JournalAction.USER_LOGIN).last()
    assert login.actor_id == user.pk
    assert login.after["via"] == Provider.CITIZEN_OIDC
    assert login.after["created"] is True
    assert login.after["verified"] is True
    created = JournalEntry.objects.get(
        action=JournalAction.USER_CREATE, object_id=str(user.pk)
    )
    assert created.after["role"] == Role.CITIZEN


def test_second_sign_in_reuses_account(client, citizen_oidc):
    sign_in(client, "anna", "anna-pass")
    client.logout()
    sign_in(client, "anna", "anna-pass")

    assert ExternalIdentity.objects.filter(subject="anna").count() == 1
    assert User.objects.filter(external_identities__subject="anna").count() == 1
    login = JournalEntry.objects.filter(action=JournalAction.USER_LOGIN).last()
    assert login.after["created"] is False


def test_verified_sign_in_links_placeholder(client, citizen_oidc, demo):
    placeholder, consultation = placeholder_with_consultation()

    sign_in(client, "anna", "anna-pass")

    user = ExternalIdentity.objects.get(subject="anna").user
    consultation.refresh_from_db()
    placeholder.refresh_from_db()
    assert consultation.citizen_id == user.pk
    assert placeholder.is_active is False
    link = JournalEntry.objects.get(
        action=JournalAction.PERSONAL_DATA_LOOKUP, object_id=str(placeholder.pk)
    )
    assert link.actor_id == user.pk
    assert link.after["purpose"] == "link"
    assert link.after["linked_to"] == user.pk
    assert link.after["consultations"] == [consultation.pk]
    login = JournalEntry.objects.filter(action=JournalAction.USER_LOGIN).last()
    assert login.after["linked_accounts"] == [placeholder.pk]
    page = client.get(f"/consultations/{consultation.pk}/")
    assert page.status_code == 200


def test_unverified_sign_in_links_nothing(client, citizen_oidc, demo):
    placeholder, consultation = placeholder_with_consultation()

    sign_in(client, "boris", "boris-pass")

    user = ExternalIdentity.objects.get(subject="boris").user
    consultation.refresh_from_db()
    assert consultation.citizen_id == placeholder.pk
    assert identifiers.read_identifiers(user, via="test") == {}
    assert not Consultation.objects.filter(citizen=user).exists()


def test_other_citizens_account_not_linked(client, citizen_oidc, demo):
    # A real account that typed the same SNILS keeps its consultations.
    identifiers.set_identifiers(demo["citizen2"], {"snils": SNILS})
    consultation = services.create_consultation(
        demo["citizen2"], service_code="GEN", subject="Своё", description="Вопрос."
    )

    sign_in(client, "anna", "anna-pass")

    consultation.refresh_from_db()
    assert consultation.citizen_id == demo["citizen2"].pk


def test_bad_state_rejected(client, citizen_oidc, english_pages):
    callback = drive_provider(start(client), "anna", "anna-pass")
    params = parse_qs(urlsplit(callback).query)
    params["state"] = ["forged-state"]

    path = "/login/oidc/citizen/callback/?" + urlencode(params, doseq=True)
    response = client.get(path)

    assert response.status_code == 401
    assert "state mismatch" in response.content.decode()
    assert not ExternalIdentity.objects.exists()
    failed = JournalEntry.objects.filter(action=JournalAction.USER_LOGIN_FAILED).last()
    assert failed.after == {"via": "oidc", "reason": "mismatching_state"}


def test_bad_nonce_rejected(client, citizen_oidc, english_pages):
    authorization_url = start(client)
    # The session's nonce no longer matches the one sent to the provider.
    session = client.session
    # SessionBase has keys() but no __iter__.
    key = next(k for k in session.keys() if k.startswith("_state_oidc_"))  # noqa: SIM118
    state = session[key]
    state["data"]["nonce"] = "another-nonce"
    session[key] = state
    session.save()

    response = client.get(
        local_path(drive_provider(authorization_url, "anna", "anna-pass"))
    )

    assert response.status_code == 401
    assert "nonce" in response.content.decode()
    assert not ExternalIdentity.objects.exists()
    failed = JournalEntry.objects.filter(action=JournalAction.USER_LOGIN_FAILED).last()
    assert failed.after["reason"] == "invalid_claim"


def test_wrong_issuer_rejected(
    client, citizen_oidc, monkeypatch, settings, english_pages
):
    monkeypatch.setattr(settings.CONFIG, "oidc_issuer", "https://id.example.org")
    monkeypatch.setattr(
        settings.CONFIG,
        "oidc_discovery_url",
        citizen_oidc.issuer + "/.well-known/openid-configuration",
    )

    response = client.get(START)

    assert response.status_code == 401
    text = response.content.decode()
    assert citizen_oidc.issuer in text
    assert "https://id.example.org" in text
    assert "PROTOKOL_OIDC_ISSUER" in text


def test_provider_rejects_wrong_password(client, citizen_oidc):
    with pytest.raises(AssertionError, match="invalid_credentials"):
        drive_provider(start(client), "anna", "wrong")
    assert not ExternalIdentity.objects.exists()


def test_unreachable_provider_is_502(client, citizen_oidc, monkeypatch, english_pages):
    issuer = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setattr(settings.CONFIG, "oidc_issuer", issuer)

    response = client.get(START)

    assert response.status_code == 502
    text = response.content.decode()
    assert issuer + "/.well-known/openid-configuration" in text
    assert "PROTOKOL_OIDC_DISCOVERY_URL" in text


def test_unconfigured_provider_is_404(client, english_pages):
    response = client.get(START)

    assert response.status_code == 404
    assert "not configured" in response.content.decode()


def test_login_page_shows_configured_providers(client, citizen_oidc):
    page = client.get("/login/").content.decode()

    assert 'href="/login/oidc/citizen/"' in page
    assert "/login/oidc/staff/" not in page
    assert "/login/esia/" not in page


@pytest.mark.parametrize("provider", ["a%00b", "unknown"])
def test_unknown_provider_not_found(client, demo, provider):
    response = client.get(f"/login/oidc/{provider}/")

    assert response.status_code == 404
    assert not JournalEntry.objects.filter(
        action=JournalAction.USER_LOGIN_FAILED
    ).exists()
