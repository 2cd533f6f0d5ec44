"""Staff sign-in: the organisation's OpenID provider, TOTP and the lockout."""

import pytest
from django.test import RequestFactory
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from identity.conftest import drive_provider, local_path
from protokol.accounts.models import ApiToken, ExternalIdentity, Provider, Role
from protokol.accounts.services import issue_token
from protokol.journal.models import JournalAction, JournalEntry
from protokol.journal.services import with_payloads

pytestmark = pytest.mark.django_db


def staff_sign_in(client, login: str, password: str):
    response = client.get("/login/oidc/staff/")
    assert response.status_code == 302
    callback = drive_provider(response["Location"], login, password)
    return client.get(local_path(callback))


def current_code(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits)
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture
def otp_required(settings):
    settings.STAFF_OTP_REQUIRED = True


def test_staff_sign_in_maps_role_and_departments(client, staff_oidc, demo):
    response = staff_sign_in(client, "olga", "olga-pass")

    assert response.status_code == 302
    identity = ExternalIdentity.objects.get(subject="olga")
    user = identity.user
    assert identity.provider == Provider.STAFF_OIDC
    assert user.role == Role.OPERATOR
    assert [d.code for d in user.departments.all()] == ["A"]
    assert user.all_departments is False
    assert client.get("/queue/").status_code == 200


def test_staff_without_role_claim_rejected(client, staff_oidc, demo, english_pages):
    response = staff_sign_in(client, "visitor", "visitor-pass")

    assert response.status_code == 403
    assert "protokol_role" in response.content.decode()
    assert not ExternalIdentity.objects.exists()


def test_staff_identity_rejected_as_citizen(
    client, staff_oidc, citizen_oidc, demo, english
):
    # The same subject at the same issuer, signed in as staff first.
    staff_sign_in(client, "olga", "olga-pass")
    client.logout()

    response = client.get("/login/oidc/citizen/")
    callback = drive_provider(response["Location"], "olga", "olga-pass")
    response = client.get(local_path(callback))

    assert response.status_code == 403
    assert ExternalIdentity.objects.get(subject="olga").user.role == Role.OPERATOR


def test_staff_oidc_must_enrol_totp(client, staff_oidc, demo, otp_required):
    staff_sign_in(client, "olga", "olga-pass")

    response = client.get("/queue/")
    assert response.status_code == 302
    assert response["Location"] == "/login/otp/enrol/"
    page = client.get("/login/otp/enrol/")
    assert page.status_code == 200
    assert "<svg" in page.content.decode()

    device = TOTPDevice.objects.get(user__username__startswith="oidc_staff-")
    response = client.post("/login/otp/enrol/", {"token": current_code(device)})
    assert response.status_code == 302
    assert client.get("/queue/").status_code == 200
    device.refresh_from_db()
    assert device.confirmed is True
    entry = JournalEntry.objects.filter(action=JournalAction.USER_LOGIN).last()
    assert entry.after == {"via": "totp", "enrolled": True, "device": device.pk}


def test_password_sign_in_asks_for_code(client, demo, otp_required):
    device = TOTPDevice.objects.create(
        user=demo["operator"], name="authenticator", confirmed=True
    )
    client.post("/login/", {"username": "operator", "password": "demo"})

    response = client.get("/queue/")
    assert response["Location"] == "/login/otp/"

    wrong = client.post("/login/otp/", {"token": "000000"})
    assert wrong.status_code == 422
    failed = JournalEntry.objects.filter(action=JournalAction.USER_LOGIN_FAILED).last()
    assert failed.after == {"via": "totp"}

    # A failed code makes django-otp wait before it accepts the next one.
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)
    device.refresh_from_db()
    response = client.post("/login/otp/", {"token": current_code(device)})
    assert response.status_code == 302
    assert client.get("/queue/").status_code == 200


def test_session_api_needs_code(client, demo, otp_required, english_pages):
    client.post("/login/", {"username": "operator", "password": "demo"})

    response = client.get("/api/v1/consultations")

    assert response.status_code == 401
    assert response.json()["field"] == "otp"


def test_staff_api_token_needs_code(client, demo, otp_required, english_pages):
    response = client.post(
        "/api/v1/auth/token",
        {"username": "operator", "password": "demo"},
        content_type="application/json",
    )

    assert response.status_code == 401
    assert response.json()["field"] == "otp"


def verified_operator_session(client, demo):
    """Sign `operator` in with the password and a confirmed TOTP code."""
    device = TOTPDevice.objects.create(
        user=demo["operator"], name="authenticator", confirmed=True
    )
    client.post("/login/", {"username": "operator", "password": "demo"})
    response = client.post("/login/otp/", {"token": current_code(device)})
    assert response.status_code == 302


def bearer_get(client, token: str, path: str):
    client.logout()
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")


def test_session_token_after_code_works(client, demo, otp_required):
    verified_operator_session(client, demo)

    response = client.post("/api/v1/auth/session-token")

    assert response.status_code == 200, response.content
    token = response.json()["token"]
    stored = ApiToken.objects.get(user=demo["operator"])
    assert stored.second_factor is True
    created = JournalEntry.objects.filter(action=JournalAction.TOKEN_CREATE).last()
    assert created.after == {"via": "session", "second_factor": True}
    assert bearer_get(client, token, "/api/v1/consultations").status_code == 200


def test_session_token_needs_code(client, demo, otp_required, english_pages):
    client.post("/login/", {"username": "operator", "password": "demo"})

    response = client.post("/api/v1/auth/session-token")

    assert response.status_code == 401
    assert response.json()["field"] == "otp"
    assert not ApiToken.objects.exists()


def test_session_token_rejects_bearer(client, demo, otp_required):
    verified_operator_session(client, demo)
    token = client.post("/api/v1/auth/session-token").json()["token"]
    client.logout()

    response = client.post(
        "/api/v1/auth/session-token", HTTP_AUTHORIZATION=f"Bearer {token}"
    )

    assert response.status_code == 401
    assert ApiToken.objects.count() == 1


def test_staff_token_without_code_rejected(client, demo, settings, english_pages):
    # A token created in demo mode, used after the second factor is required.
    demo_token = issue_token(
        RequestFactory().post("/api/v1/auth/token"), "operator", "demo"
    )
    settings.STAFF_OTP_REQUIRED = True

    response = bearer_get(client, demo_token, "/api/v1/consultations")

    assert response.status_code == 401
    assert response.json()["field"] == "otp"
    assert "session-token" in response.json()["message"]


def test_citizen_token_needs_no_code(client, demo, otp_required):
    token = issue_token(RequestFactory().post("/api/v1/auth/token"), "citizen", "demo")

    assert bearer_get(client, token, "/api/v1/consultations").status_code == 200


def test_demo_session_token_has_no_code(client, demo):
    client.post("/login/", {"username": "operator", "password": "demo"})

    response = client.post("/api/v1/auth/session-token")

    assert response.status_code == 200
    assert ApiToken.objects.get(user=demo["operator"]).second_factor is False
    token = response.json()["token"]
    assert bearer_get(client, token, "/api/v1/consultations").status_code == 200


def test_citizen_needs_no_code(client, demo, otp_required):
    client.post("/login/", {"username": "citizen", "password": "demo"})

    assert client.get("/my/").status_code == 200


def test_demo_mode_needs_no_code(client, demo):
    client.post("/login/", {"username": "operator", "password": "demo"})

    assert client.get("/queue/").status_code == 200


def test_lockout_after_failures(client, demo, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        response = client.post("/login/", {"username": "operator", "password": "x"})

    assert response.status_code == 429
    # The right password is rejected too while the lockout lasts.
    response = client.post("/login/", {"username": "operator", "password": "demo"})
    assert response.status_code == 429
    assert "Слишком много неудачных попыток" in response.content.decode()
    denials = JournalEntry.objects.filter(action=JournalAction.ACCESS_DENIED)
    assert denials.count() == 2
    assert {d.after["reason"] for d in denials} == {"login_locked_out"}
    assert {d.object_label for d in with_payloads(list(denials))} == {"operator"}
    failures = JournalEntry.objects.filter(action=JournalAction.USER_LOGIN_FAILED)
    assert failures.count() == 4


def test_lockout_is_per_user_name(client, demo, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        client.post("/login/", {"username": "operator", "password": "x"})

    response = client.post("/login/", {"username": "reviewer", "password": "demo"})

    assert response.status_code == 302


def test_repeated_lockouts_raise_alert(client, demo, settings, monkeypatch):
    settings.AXES_FAILURE_LIMIT = 1
    monkeypatch.setattr(settings.CONFIG, "security_alert_denials", 3)
    for _ in range(3):
        client.post("/login/", {"username": "operator", "password": "x"})

    alert = JournalEntry.objects.get(action=JournalAction.SECURITY_ALERT)
    assert alert.object_type == "address"
    assert alert.object_id == "127.0.0.1"
