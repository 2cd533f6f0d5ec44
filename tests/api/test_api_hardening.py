"""Inputs and callers that the plain error tests do not cover."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from protokol.journal.models import JournalEntry

from .test_api_errors import assert_error


@pytest.mark.parametrize("field", ["subject", "description"])
def test_create_lone_surrogate_rejected(api, field):
    body = {"service": "GEN", "subject": "Вопрос", "description": "Текст"}
    body[field] = "a\ud800b"

    response = api("citizen").post("/consultations", body)

    assert_error(response, 422, "validation_failed", field)


def test_token_lone_surrogate_rejected(demo):
    response = Client().post(
        "/api/v1/auth/token",
        json.dumps({"username": "a\ud800", "password": "demo"}),
        content_type="application/json",
    )

    assert_error(response, 422, "validation_failed", "username")


def test_bad_bearer_on_write_unauthenticated(consultation):
    client = Client(enforce_csrf_checks=True)

    response = client.post(
        f"/api/v1/consultations/{consultation.pk}/messages",
        json.dumps({"text": "Здравствуйте", "visibility": "public"}),
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer not-a-token",
    )

    assert_error(response, 401, "not_authenticated", None)


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("scan.pdf", b"MZ\x90\x00\x03\x00\x00\x00", "application/pdf"),
        ("photo.png", b"%PDF-1.4 not a picture", "image/png"),
        ("notes.txt", b"\x00\x01\x02binary", "text/plain"),
    ],
)
def test_upload_content_mismatch_rejected(
    api, consultation, name, content, content_type
):
    response = api("citizen").upload(
        f"/consultations/{consultation.pk}/attachments",
        SimpleUploadedFile(name, content, content_type=content_type),
    )

    assert_error(response, 415, "unsupported_media_type", "file")


def test_wrong_role_write_journaled(api, consultation):
    api("citizen").post(
        f"/consultations/{consultation.pk}/transitions", {"action": "take"}
    )

    entry = JournalEntry.objects.filter(action="access:denied").get()
    assert entry.after == {
        "reason": "forbidden",
        "operation": "transition",
        "ip": "127.0.0.1",
    }
    assert entry.object_id == str(consultation.pk)
    assert entry.consultation_id == consultation.pk


def test_citizen_journal_hides_internal_notes(api, consultation):
    path = f"/consultations/{consultation.pk}"
    api("operator").post(
        f"{path}/messages", {"text": "Заметка", "visibility": "internal"}
    )

    citizen_actions = [
        e["action"] for e in api("citizen").get(f"{path}/journal").json()
    ]
    staff_actions = [e["action"] for e in api("operator").get(f"{path}/journal").json()]

    assert "message:create" not in citizen_actions
    assert "message:create" in staff_actions
