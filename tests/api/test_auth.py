from datetime import timedelta

import pytest
from django.utils import timezone

from protokol.accounts.models import ApiToken
from protokol.journal.models import JournalEntry
from protokol.journal.services import with_payloads

from .client import ERROR_KEYS, ApiClient, login, write_counts


def assert_unauthenticated(response) -> None:
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert set(response.json()) == ERROR_KEYS


def test_token_issued_for_good_password(demo):
    response = ApiClient().post(
        "/auth/token", {"username": "citizen", "password": "demo"}
    )

    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"
    assert len(response.json()["token"]) >= 32


def test_token_works_on_api(demo):
    response = login("citizen").get("/consultations")

    assert response.status_code == 200


def test_token_bad_password_unauthorized(demo):
    counts = write_counts()
    client = ApiClient()
    client.headers["HTTP_ACCEPT_LANGUAGE"] = "en"

    response = client.post("/auth/token", {"username": "citizen", "password": "wrong"})

    assert response.status_code == 401
    assert response.json() == {
        "error": "not_authenticated",
        "message": "Invalid username or password.",
        "field": "password",
    }
    assert write_counts() == counts


def test_token_bad_password_journaled(demo):
    ApiClient().post("/auth/token", {"username": "citizen", "password": "wrong"})

    [entry] = with_payloads([JournalEntry.objects.order_by("-index").first()])
    assert entry.action == "user:login_failed"
    assert entry.object_label == "citizen"
    assert entry.request_id != ""


def test_token_unknown_user_unauthorized(demo):
    response = ApiClient().post(
        "/auth/token", {"username": "nobody", "password": "demo"}
    )

    assert response.status_code == 401
    assert response.json()["field"] == "password"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "citizen"}, "password"),
        ({"username": "citizen", "password": 5}, "password"),
        ({"username": "", "password": "demo"}, "username"),
        ({"username": "citizen", "password": "demo", "otp": "1"}, "otp"),
        ({"username": "u" * 151, "password": "demo"}, "username"),
        ({"username": "u" * 300, "password": "demo"}, "username"),
    ],
)
def test_token_invalid_body_rejected(demo, body, field):
    response = ApiClient().post("/auth/token", body)

    assert response.status_code == 422
    assert response.json()["error"] == "validation_failed"
    assert response.json()["field"] == field


@pytest.mark.parametrize(
    "path", ["/services", "/departments", "/consultations", "/consultations/1"]
)
def test_request_without_token_unauthorized(demo, path):
    assert_unauthenticated(ApiClient().get(path))


def test_request_with_bad_token_unauthorized(demo):
    assert_unauthenticated(ApiClient("not-a-real-token").get("/consultations"))


def test_request_with_expired_token_unauthorized(demo):
    client = login("citizen")
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert_unauthenticated(client.get("/consultations"))


def test_request_with_basic_auth_unauthorized(demo):
    client = ApiClient()
    client.headers = {"HTTP_AUTHORIZATION": "Basic Y2l0aXplbjpkZW1v"}

    assert_unauthenticated(client.get("/consultations"))


def test_write_without_token_unauthorized(consultation):
    counts = write_counts()

    response = ApiClient().post(
        f"/consultations/{consultation.pk}/messages", {"text": "Здравствуйте"}
    )

    assert_unauthenticated(response)
    assert write_counts() == counts
