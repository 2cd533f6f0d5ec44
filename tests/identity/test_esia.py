"""Sign-in through ESIA against the ESIA test provider on loopback."""

import base64
import re
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from django.db import transaction

from identity.conftest import SNILS, local_path
from identity.esia_provider import verify_client_secret
from protokol.accounts import esia as esia_client
from protokol.accounts import identifiers
from protokol.accounts.models import ExternalIdentity, Provider, Role
from protokol.accounts.services import create_user
from protokol.consultations import services
from protokol.journal.models import JournalAction, JournalEntry
from protokol.signing import pki, signers

pytestmark = pytest.mark.django_db


def authorization_url(client) -> str:
    response = client.get("/login/esia/")
    assert response.status_code == 302
    return response["Location"]


def sign_in(client, provider, oid: str):
    provider.next_oid = oid
    response = requests.get(authorization_url(client), allow_redirects=False)
    assert response.status_code == 302, response.text
    return client.get(local_path(response.headers["Location"]))


def test_timestamp_format():
    moment = datetime(2026, 12, 4, 21, 5, 9, tzinfo=UTC)

    assert esia_client.esia_timestamp(moment) == "2026.12.04 21:05:09 +0000"


def test_authorization_request_is_signed(client, esia):
    params = parse_qs(urlsplit(authorization_url(client)).query)
    values = {name: value[0] for name, value in params.items()}

    assert re.fullmatch(
        r"\d{4}\.\d{2}\.\d{2} \d{2}:\d{2}:\d{2} \+0000", values["timestamp"]
    )
    assert values["access_type"] == "online"
    assert values["response_type"] == "code"
    uuid.UUID(values["state"])
    message = (
        values["scope"] + values["timestamp"] + values["client_id"] + values["state"]
    ).encode()
    certificate = pki.organisation_identity("seal").certificate
    assert verify_client_secret(values["client_secret"], message, certificate) is None


def test_sign_in_creates_verified_citizen(client, esia):
    response = sign_in(client, esia, "1000299353")

    assert response.status_code == 302
    identity = ExternalIdentity.objects.get(subject="1000299353")
    assert identity.provider == Provider.ESIA
    assert identity.issuer == esia.issuer
    assert identity.verified is True
    assert identity.user.role == Role.CITIZEN
    assert identity.user.last_name == "Иванова"
    assert identifiers.read_identifiers(identity.user, via="test") == {"snils": SNILS}
    assert esia.rejections == []


def test_sign_in_links_placeholder(client, esia, demo):
    with transaction.atomic():
        placeholder = create_user(
            "imported-0002", role=Role.CITIZEN, password=None, placeholder=True
        )
    identifiers.set_identifiers(placeholder, {"snils": SNILS})
    consultation = services.create_consultation(
        placeholder, service_code="GEN", subject="Из импорта", description="Вопрос."
    )

    sign_in(client, esia, "1000299353")

    consultation.refresh_from_db()
    user = ExternalIdentity.objects.get(subject="1000299353").user
    assert consultation.citizen_id == user.pk
    link = JournalEntry.objects.get(
        action=JournalAction.PERSONAL_DATA_LOOKUP, object_id=str(placeholder.pk)
    )
    assert link.after["consultations"] == [consultation.pk]


def test_untrusted_account_is_not_verified(client, esia):
    sign_in(client, esia, "1000299354")

    identity = ExternalIdentity.objects.get(subject="1000299354")
    assert identity.verified is False
    assert identity.user.first_name == "Пётр"


def test_provider_rejects_secret_over_other_state(client, esia):
    params = parse_qs(urlsplit(authorization_url(client)).query)
    values = {name: value[0] for name, value in params.items()}
    values["state"] = str(uuid.uuid4())

    response = requests.get(
        esia.url + "/aas/oauth2/ac?" + urlencode(values), allow_redirects=False
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client"
    assert esia.rejections == ["the signature does not cover these values"]


def test_provider_rejects_secret_of_other_key(client, esia):
    # A valid signature over the right values, but by another certificate.
    params = parse_qs(urlsplit(authorization_url(client)).query)
    values = {name: value[0] for name, value in params.items()}
    message = (
        values["scope"] + values["timestamp"] + values["client_id"] + values["state"]
    ).encode()
    other = signers.default_signer().sign(
        message, pki.organisation_identity("tsa"), timestamp=False
    )
    values["client_secret"] = base64.urlsafe_b64encode(other.cms).decode()

    response = requests.get(
        esia.url + "/aas/oauth2/ac?" + urlencode(values), allow_redirects=False
    )

    assert response.status_code == 400
    assert esia.rejections == [
        "the signature was made for another certificate than the registered one"
    ]


def test_token_request_rejected_by_provider(client, esia, english_pages):
    # ESIA no longer trusts the seal between authorization and token request.
    esia.next_oid = "1000299353"
    response = requests.get(authorization_url(client), allow_redirects=False)
    esia.client_certificate = pki.organisation_identity("tsa").certificate

    response = client.get(local_path(response.headers["Location"]))

    assert response.status_code == 401
    assert "invalid_client" in response.content.decode()
    assert len(esia.rejections) == 1
    assert not ExternalIdentity.objects.exists()


def test_bad_state_rejected(client, esia, english_pages):
    esia.next_oid = "1000299353"
    response = requests.get(authorization_url(client), allow_redirects=False)
    callback = urlsplit(response.headers["Location"])
    params = parse_qs(callback.query)
    params["state"] = [str(uuid.uuid4())]

    response = client.get(callback.path + "?" + urlencode(params, doseq=True))

    assert response.status_code == 401
    assert "state mismatch" in response.content.decode()
    assert not ExternalIdentity.objects.exists()


def test_id_token_of_other_issuer_rejected(client, esia, monkeypatch, settings):
    monkeypatch.setattr(settings.CONFIG, "esia_issuer", "http://esia.gosuslugi.ru/")

    response = sign_in(client, esia, "1000299353")

    assert response.status_code == 401
    assert "iss" in response.content.decode()
    assert not ExternalIdentity.objects.exists()
    failed = JournalEntry.objects.filter(action=JournalAction.USER_LOGIN_FAILED).last()
    assert failed.after == {"via": "esia", "reason": "invalid_claim"}


def test_missing_certificate_file_is_502(client, esia, monkeypatch, settings):
    monkeypatch.setattr(settings.CONFIG, "esia_certificate_file", None)

    response = sign_in(client, esia, "1000299353")

    assert response.status_code == 502
    assert "PROTOKOL_ESIA_CERTIFICATE_FILE" in response.content.decode()
