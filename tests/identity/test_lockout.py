"""Password lockout on POST /api/v1/auth/token, shared with the sign-in page."""

import json
import logging

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import authenticate
from django.test import RequestFactory

from protokol.accounts.models import ApiToken
from protokol.accounts.services import issue_token
from protokol.errors import NotAuthenticated, TooManyRequests
from protokol.journal.models import JournalAction, JournalEntry
from protokol.journal.services import with_payloads

pytestmark = pytest.mark.django_db

TOKEN_PATH = "/api/v1/auth/token"
LIMIT = 3


@pytest.fixture(autouse=True)
def failure_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


def api_sign_in(client, password: str, username: str = "operator", **extra):
    return client.post(
        TOKEN_PATH,
        json.dumps({"username": username, "password": password}),
        content_type="application/json",
        **extra,
    )


def page_sign_in(client, password: str, username: str = "operator"):
    return client.post("/login/", {"username": username, "password": password})


def test_api_lockout_after_failures(client, demo, english_pages):
    statuses = [api_sign_in(client, "x").status_code for _ in range(LIMIT)]

    # The failure that reaches the limit is already rejected as locked out.
    assert statuses == [401] * (LIMIT - 1) + [429]
    # The right password is rejected too while the lockout lasts.
    response = api_sign_in(client, "demo")
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Retry-After"] == "900"
    assert response.json() == {
        "error": "too_many_requests",
        "message": (
            "Too many failed sign-in attempts for this user name from this "
            "address. Wait 15 min and try again, or ask an administrator to "
            "lift the lockout."
        ),
        "field": "username",
    }
    assert not ApiToken.objects.exists()


def test_api_lockout_follows_cool_off_setting(client, demo, settings, english_pages):
    settings.AXES_COOLOFF_TIME = settings.AXES_COOLOFF_TIME / 3
    for _ in range(LIMIT):
        api_sign_in(client, "x")

    response = api_sign_in(client, "demo")

    assert response.status_code == 429
    assert response["Retry-After"] == "300"
    assert "Wait 5 min" in response.json()["message"]


def test_api_lockout_journaled(client, demo):
    for _ in range(LIMIT + 1):
        api_sign_in(client, "x")

    denials = JournalEntry.objects.filter(action=JournalAction.ACCESS_DENIED)
    assert denials.count() == 2
    assert {d.after["reason"] for d in denials} == {"login_locked_out"}
    assert {d.object_label for d in with_payloads(list(denials))} == {"operator"}
    failures = with_payloads(
        list(JournalEntry.objects.filter(action=JournalAction.USER_LOGIN_FAILED))
    )
    assert len(failures) == LIMIT + 1
    assert {entry.after["via"] for entry in failures} == {"api"}


def test_api_lockout_is_per_address(client, demo):
    for _ in range(LIMIT):
        api_sign_in(client, "x")

    response = api_sign_in(client, "demo", REMOTE_ADDR="192.0.2.7")

    assert response.status_code == 200


def test_api_lockout_is_per_user_name(client, demo):
    for _ in range(LIMIT):
        api_sign_in(client, "x")

    assert api_sign_in(client, "demo", username="reviewer").status_code == 200


def test_api_lockout_of_unknown_user(client, demo):
    for _ in range(LIMIT):
        api_sign_in(client, "x", username="nobody")

    response = api_sign_in(client, "demo", username="nobody")

    assert response.status_code == 429
    assert response.json()["error"] == "too_many_requests"


def test_page_lockout_after_failures(client, demo):
    statuses = [page_sign_in(client, "x").status_code for _ in range(LIMIT)]

    # As on the API, the failure that reaches the limit is already locked out.
    assert statuses == [401] * (LIMIT - 1) + [429]
    response = page_sign_in(client, "demo")
    assert response.status_code == 429
    assert "Слишком много неудачных попыток" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert AccessAttempt.objects.get().failures_since_start == LIMIT + 1


def test_page_failures_lock_api(client, demo):
    for _ in range(LIMIT - 1):
        assert page_sign_in(client, "x").status_code == 401

    assert api_sign_in(client, "x").status_code == 429
    assert api_sign_in(client, "demo").status_code == 429


def test_api_failures_lock_page(client, demo):
    for _ in range(LIMIT - 1):
        assert api_sign_in(client, "x").status_code == 401

    response = page_sign_in(client, "x")
    assert response.status_code == 429
    assert "Слишком много неудачных попыток" in response.content.decode()
    assert page_sign_in(client, "demo").status_code == 429


def test_page_lockout_sends_retry_after(client, demo, settings):
    settings.AXES_COOLOFF_TIME = settings.AXES_COOLOFF_TIME / 3
    for _ in range(LIMIT):
        page_sign_in(client, "x")

    response = page_sign_in(client, "demo")

    assert response.status_code == 429
    assert response["Content-Type"].startswith("text/html")
    assert response["Retry-After"] == "300"


def test_api_success_resets_count(client, demo):
    for _ in range(LIMIT - 1):
        api_sign_in(client, "x")

    assert api_sign_in(client, "demo").status_code == 200

    assert not AccessAttempt.objects.exists()
    for _ in range(LIMIT - 1):
        assert api_sign_in(client, "x").status_code == 401
    assert api_sign_in(client, "demo").status_code == 200


def test_api_success_resets_page_failures(client, demo):
    for _ in range(LIMIT - 1):
        page_sign_in(client, "x")

    assert api_sign_in(client, "demo").status_code == 200

    assert page_sign_in(client, "x").status_code == 401
    assert page_sign_in(client, "demo").status_code == 302


def test_staff_password_without_code_resets_count(client, demo, settings):
    # The password matched, although the token is rejected for the second factor.
    settings.STAFF_OTP_REQUIRED = True
    for _ in range(LIMIT - 1):
        api_sign_in(client, "x")

    response = api_sign_in(client, "demo")

    assert response.status_code == 401
    assert response.json()["field"] == "otp"
    assert not AccessAttempt.objects.exists()


def test_api_wrong_password_logs_no_error(client, demo, caplog):
    caplog.set_level(logging.INFO)

    for _ in range(LIMIT + 1):
        api_sign_in(client, "x")

    errors = [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.ERROR
    ]
    assert errors == []


def test_issue_token_locked_out_raises(demo):
    for _ in range(LIMIT - 1):
        with pytest.raises(NotAuthenticated):
            issue_token(RequestFactory().post(TOKEN_PATH), "operator", "x")

    with pytest.raises(TooManyRequests) as caught:
        issue_token(RequestFactory().post(TOKEN_PATH), "operator", "x")

    assert caught.value.status == 429
    assert caught.value.retry_after == 900
    assert caught.value.field == "username"


def test_authenticate_without_request_rejected(demo):
    # No password check may bypass the failure count.
    with pytest.raises(ValueError, match="request"):
        authenticate(username="operator", password="demo")
