"""Uploading and downloading attachments with hostile and unusual names."""

import hashlib
import re
from urllib.parse import unquote

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from protokol.consultations.attachments import open_plaintext
from protokol.consultations.models import Attachment
from protokol.journal.models import JournalEntry

from .client import multipart

STORAGE_KEY = re.compile(r"[0-9a-f]{2}/[0-9a-f]{32}")
EXTENDED_NAME = re.compile(
    r'attachment; filename="[ -~]*"; filename\*=utf-8\'\'(?P<name>\S+)', re.I
)
LONG_CYRILLIC = "Заявление о назначении пособия " * 10 + ".pdf"

# (name sent by the client, name expected back)
NAMES = [
    ("Справка о доходах.pdf", "Справка о доходах.pdf"),
    ("my scan 01.pdf", "my scan 01.pdf"),
    ("../../etc/passwd", "passwd"),
    ("..\\..\\Windows\\win.ini", "win.ini"),
    ("bad\x07name\x1b.pdf", "badname.pdf"),
    ("\u202eфдп.pdf", "фдп.pdf"),
    (LONG_CYRILLIC, LONG_CYRILLIC[:251] + ".pdf"),
]


def send(client, consultation, name: str, content: bytes, content_type: str):
    body, multipart_type = multipart(name, content, content_type)
    return client.post_raw(
        f"/consultations/{consultation.pk}/attachments", body, multipart_type
    )


def download(client, consultation, attachment_id: int):
    """Fetch an attachment and read its body, which also closes the file."""
    path = f"/consultations/{consultation.pk}/attachments/{attachment_id}"
    response = client.get(path)
    response.body = b"".join(response.streaming_content)
    return response


def filename_from(disposition: str) -> str:
    """Decode the name from an RFC 6266 Content-Disposition header."""
    extended = EXTENDED_NAME.fullmatch(disposition)
    if extended:
        return unquote(extended["name"], encoding="utf-8", errors="strict")
    plain = re.fullmatch(r'attachment; filename="(?P<name>[^"]*)"', disposition)
    return plain["name"]


@pytest.mark.parametrize(("sent", "expected"), NAMES, ids=range(len(NAMES)))
def test_upload_stores_safe_name(api, consultation, sent, expected):
    response = send(api("citizen"), consultation, sent, b"plain text", "text/plain")

    assert response.status_code == 201, response.json()
    stored = Attachment.objects.get()
    assert stored.original_name == expected
    assert response.json()["name"] == expected


@pytest.mark.parametrize(("sent", "expected"), NAMES, ids=range(len(NAMES)))
def test_upload_name_fits_and_has_no_path(api, consultation, sent, expected):
    send(api("citizen"), consultation, sent, b"plain text", "text/plain")

    stored = Attachment.objects.get().original_name
    assert len(stored) <= 255
    assert "/" not in stored
    assert "\\" not in stored
    assert not stored.startswith(".")


@pytest.mark.parametrize(("sent", "expected"), NAMES, ids=range(len(NAMES)))
def test_upload_storage_key_generated(api, consultation, settings, sent, expected):
    send(api("citizen"), consultation, sent, b"plain text", "text/plain")

    stored = Attachment.objects.get()
    assert STORAGE_KEY.fullmatch(stored.storage_key)
    assert (settings.MEDIA_ROOT / stored.storage_key).is_file()
    assert list(settings.MEDIA_ROOT.parent.glob("**/passwd")) == []


@pytest.mark.parametrize(("sent", "expected"), NAMES, ids=range(len(NAMES)))
def test_download_disposition_round_trips_name(api, consultation, sent, expected):
    created = send(api("citizen"), consultation, sent, b"data", "text/plain").json()

    response = download(api("operator"), consultation, created["id"])

    assert response["Content-Disposition"].startswith("attachment; ")
    assert filename_from(response["Content-Disposition"]) == expected


def test_download_non_ascii_uses_filename_star(api, consultation):
    name = "Справка о доходах.pdf"
    created = send(api("citizen"), consultation, name, b"data", "text/plain").json()

    response = download(api("citizen"), consultation, created["id"])

    disposition = response["Content-Disposition"]
    assert EXTENDED_NAME.fullmatch(disposition)
    assert "%D0%A1%D0%BF%D1%80%D0%B0%D0%B2%D0%BA%D0%B0" in disposition
    assert " " not in disposition.split("filename*=")[1]


def test_download_sets_safety_headers(api, consultation):
    created = send(api("citizen"), consultation, "a.txt", b"<b>x</b>", "text/plain")

    response = download(api("citizen"), consultation, created.json()["id"])

    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Type"] == "text/plain"
    assert "sandbox" in response["Content-Security-Policy"]


def test_upload_digest_and_size_stored(api, consultation):
    content = "Доход за 2025 год: 100 000 ₽\n".encode() * 50

    response = send(api("citizen"), consultation, "доход.txt", content, "text/plain")

    stored = Attachment.objects.get()
    assert stored.size == len(content)
    assert stored.sha256 == hashlib.sha256(content).hexdigest()
    assert response.json()["sha256"] == stored.sha256
    assert response.json()["size"] == len(content)


def test_upload_content_stored_unchanged(api, consultation):
    content = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 16

    send(api("citizen"), consultation, "scan.png", content, "image/png")

    stored = Attachment.objects.get()
    with default_storage.open(stored.storage_key, "rb") as handle:
        assert content not in handle.read()
    with open_plaintext(stored) as handle:
        assert handle.read() == content


def test_download_returns_uploaded_bytes(api, consultation):
    content = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 16
    created = send(api("citizen"), consultation, "scan.png", content, "image/png")

    response = download(api("reviewer"), consultation, created.json()["id"])

    assert response.status_code == 200
    assert response.body == content


def test_download_journals_attachment_read(api, consultation, demo):
    created = send(api("citizen"), consultation, "a.pdf", b"%PDF", "application/pdf")

    download(api("operator"), consultation, created.json()["id"])

    entry = JournalEntry.objects.order_by("-index").first()
    assert entry.action == "attachment:read"
    assert entry.actor_id == demo["operator"].pk
    assert entry.object_id == str(created.json()["id"])


def test_upload_generic_type_resolved_from_name(api, consultation):
    response = send(
        api("citizen"), consultation, "scan.png", b"\x89PNG", "application/octet-stream"
    )

    assert response.json()["content_type"] == "image/png"


def test_upload_response_links_download(api, consultation):
    response = api("citizen").upload(
        f"/consultations/{consultation.pk}/attachments",
        SimpleUploadedFile("a.pdf", b"%PDF", content_type="application/pdf"),
    )

    body = response.json()
    assert response.status_code == 201
    assert body["download_url"] == (
        f"/api/v1/consultations/{consultation.pk}/attachments/{body['id']}"
    )


def test_detail_lists_attachment_with_link(api, consultation):
    created = send(api("citizen"), consultation, "a.pdf", b"%PDF", "application/pdf")

    detail = api("citizen").get(f"/consultations/{consultation.pk}").json()

    assert [a["id"] for a in detail["attachments"]] == [created.json()["id"]]
    assert detail["attachments"][0]["download_url"] == created.json()["download_url"]


def pdf(name: str = "справка.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"%PDF-1.4 test", content_type="application/pdf")


def test_upload_of_two_files_rejected(api, consultation, english_pages):
    client = api("citizen")

    response = client.client.post(
        f"/api/v1/consultations/{consultation.pk}/attachments",
        {"file": [pdf("a.pdf"), pdf("b.pdf")]},
        **client.headers,
    )

    assert response.status_code == 422, response.content
    assert response.json()["field"] == "file"
    assert response.json()["message"] == (
        "file is sent 2 times; send one file per request."
    )
    assert not Attachment.objects.exists()


@pytest.mark.parametrize("field", ["name", "files"])
def test_upload_unknown_field_rejected(api, consultation, english_pages, field):
    client = api("citizen")

    response = client.client.post(
        f"/api/v1/consultations/{consultation.pk}/attachments",
        {"file": pdf(), field: "x"},
        **client.headers,
    )

    assert response.status_code == 422, response.content
    assert response.json()["field"] == field
    assert response.json()["message"] == f"{field} is not a known field; remove it."
    assert not Attachment.objects.exists()
