"""Text that no database can store: NUL characters and lone surrogates.

PostgreSQL rejects both in any text parameter, so a value used for a lookup,
not only one that is stored, must get 422 before it reaches a query.
"""

import pytest

from api.client import ApiClient
from protokol.notifications.models import Webhook

from .client import write_counts
from .test_api_errors import assert_error

NUL = "a\x00b"
SURROGATE = "a\ud800b"
WEBHOOK = {"name": "crm", "url": "http://127.0.0.1:18299/hook"}


def control_message(field: str) -> str:
    return f"{field} contains control characters; remove them."


def surrogate_message(field: str) -> str:
    return f"{field} contains invalid Unicode (a lone surrogate); send UTF-8 text."


def body_cases(consultation_id: int) -> list[tuple]:
    """Return (username, method, path, body, field) with `{}` where the value goes."""
    return [
        (
            None,
            "post",
            "/auth/token",
            {"username": "{}", "password": "demo"},
            "username",
        ),
        (
            "citizen",
            "post",
            "/consultations",
            {"service": "{}", "subject": "Вопрос", "description": "Текст"},
            "service",
        ),
        (
            "operator",
            "post",
            f"/consultations/{consultation_id}/forward",
            {"department": "{}", "reason": "Не наш вопрос"},
            "department",
        ),
        (
            "admin",
            "put",
            "/templates/greeting",
            {"title": "Привет", "body_ru": "Текст", "service": "{}"},
            "service",
        ),
        (
            "admin",
            "put",
            "/templates/greeting",
            {"title": "Привет", "body_ru": "Текст", "department": "{}"},
            "department",
        ),
        ("admin", "post", "/notifications/webhooks", {**WEBHOOK, "name": "{}"}, "name"),
        (
            "admin",
            "post",
            "/notifications/webhooks",
            {**WEBHOOK, "department": "{}"},
            "department",
        ),
        (
            "admin",
            "post",
            "/retention/grants",
            {"username": "{}", "reason": "Проверка", "days": 3},
            "username",
        ),
        (
            "citizen",
            "put",
            f"/consultations/{consultation_id}/data",
            {"values": {"{}": "x"}},
            "values",
        ),
    ]


def filled(value, text: str):
    """Return `value` with every "{}" string and key replaced by `text`."""
    if value == "{}":
        return text
    if isinstance(value, dict):
        return {filled(key, text): filled(item, text) for key, item in value.items()}
    if isinstance(value, list):
        return [filled(item, text) for item in value]
    return value


@pytest.mark.parametrize("case", range(9))
@pytest.mark.parametrize(
    ("text", "message"), [(NUL, control_message), (SURROGATE, surrogate_message)]
)
def test_body_text_rejected(api, english_pages, consultation, case, text, message):
    username, method, path, body, field = body_cases(consultation.pk)[case]
    client = api(username) if username else ApiClient()
    before = write_counts()

    response = getattr(client, method)(path, filled(body, text))

    error = assert_error(response, 422, "validation_failed", field)
    assert error["message"] == message(field)
    assert write_counts() == before
    assert not Webhook.objects.exists()


def test_list_item_named(api, english_pages, consultation):
    response = api("operator").post(
        f"/consultations/{consultation.pk}/data-request",
        {"fields": ["snils", NUL], "comment": "Нужен СНИЛС"},
    )

    error = assert_error(response, 422, "validation_failed", "fields[1]")
    assert error["message"] == control_message("fields[1]")


@pytest.mark.parametrize(
    ("username", "method", "path", "field"),
    [
        ("operator", "get", "/copy-jobs/a%00b", "token"),
        ("operator", "get", "/services/a%00b/expectations", "code"),
        ("admin", "put", "/retention/policies/a%00b", "service_code"),
    ],
)
def test_path_nul_rejected(api, english_pages, username, method, path, field):
    client = api(username)
    if method == "get":
        response = client.get(path)
    else:
        response = client.put(path, {"years": 5, "end_action": "delete"})

    error = assert_error(response, 422, "validation_failed", field)
    assert error["message"] == control_message(field)


def test_query_nul_rejected(api, english_pages, consultation):
    response = api("operator").get(
        f"/consultations/{consultation.pk}/templates", lang=NUL
    )

    error = assert_error(response, 422, "validation_failed", "lang")
    assert error["message"] == control_message("lang")


def test_escaped_backslash_passes(api, consultation):
    response = api("citizen").post(
        f"/consultations/{consultation.pk}/messages", {"text": "C:\\u0000 и \\ud800"}
    )

    assert response.status_code == 201, response.content
    assert response.json()["text"] == "C:\\u0000 и \\ud800"
