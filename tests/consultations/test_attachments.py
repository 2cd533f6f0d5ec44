import hashlib
import re

import pytest
from django.core.files.storage import default_storage

from protokol.consultations import attachments
from protokol.consultations.models import Attachment
from protokol.errors import (
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    UnsupportedMediaType,
    ValidationFailed,
)
from protokol.journal.models import JournalEntry

from .factories import open_consultation, upload

STORAGE_KEY = re.compile(r"[0-9a-f]{2}/[0-9a-f]{32}")
LONG_STEM = "Заявление" * 40


@pytest.fixture
def small_uploads(settings, monkeypatch):
    """Limit uploads to 1,000 bytes."""
    monkeypatch.setattr(settings.CONFIG, "max_upload_bytes", 1000)


def stored_files(settings) -> list:
    root = settings.MEDIA_ROOT
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Справка о доходах.pdf", "Справка о доходах.pdf"),
        ("my file.pdf", "my file.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\evil.txt", "evil.txt"),
        ("/absolute/path/to/scan.png", "scan.png"),
        ("bad\x00na\x07me\x1b.txt", "badname.txt"),
        ("line\nbreak\r\ttab.txt", "linebreaktab.txt"),
        ("\u202etxt.exe.pdf", "txt.exe.pdf"),
        (".hidden", "hidden"),
        ("..", "file"),
        ("", "file"),
        ("   ", "file"),
        ("ребе\u0308нок.pdf", "ребёнок.pdf"),
    ],
)
def test_safe_name_cleans(name, expected):
    assert attachments.safe_name(name) == expected


def test_safe_name_truncates_keeping_extension():
    name = attachments.safe_name(LONG_STEM + ".pdf")

    assert len(name) == 255
    assert name.endswith(".pdf")
    assert name.startswith("Заявление")


def test_safe_name_caps_long_extension():
    name = attachments.safe_name("a." + "x" * 300)

    assert len(name) <= 255


@pytest.mark.parametrize(
    ("declared", "name", "expected"),
    [
        ("application/pdf", "a.pdf", "application/pdf"),
        ("APPLICATION/PDF", "a.pdf", "application/pdf"),
        ("text/plain; charset=utf-8", "a.txt", "text/plain"),
        ("application/octet-stream", "scan.png", "image/png"),
        ("", "scan.jpg", "image/jpeg"),
        (None, "noext", "application/octet-stream"),
    ],
)
def test_resolve_content_type(declared, name, expected):
    assert attachments.resolve_content_type(declared, name) == expected


def test_add_stores_digest_and_size(consultation, demo):
    content = "Справка № 5\n".encode() * 10

    attachment = attachments.add_attachment(
        demo["citizen"],
        consultation.pk,
        upload("справка.txt", content, "text/plain"),
    )

    assert attachment.size == len(content)
    assert attachment.sha256 == hashlib.sha256(content).hexdigest()


def test_add_stores_content_unchanged(consultation, demo):
    content = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4

    attachment = attachments.add_attachment(
        demo["citizen"], consultation.pk, upload("scan.png", content, "image/png")
    )

    with default_storage.open(attachment.storage_key, "rb") as handle:
        stored = handle.read()
    assert stored != content
    assert len(stored) == len(content) + 16
    with attachments.open_plaintext(attachment) as handle:
        assert handle.read() == content


def test_add_uses_generated_storage_key(consultation, demo):
    attachment = attachments.add_attachment(
        demo["citizen"], consultation.pk, upload("Справка о доходах.pdf")
    )

    assert STORAGE_KEY.fullmatch(attachment.storage_key)
    assert "Справка" not in attachment.storage_key


def test_add_stores_under_media_root(consultation, demo, settings):
    attachment = attachments.add_attachment(demo["citizen"], consultation.pk, upload())

    assert stored_files(settings) == [settings.MEDIA_ROOT / attachment.storage_key]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("..\\..\\evil.txt", "evil.txt"),
        ("bad\x07name.txt", "badname.txt"),
        (LONG_STEM + ".txt", (LONG_STEM[:251] + ".txt")),
    ],
)
def test_add_stores_safe_name(consultation, demo, name, expected):
    attachment = attachments.add_attachment(
        demo["citizen"], consultation.pk, upload(name, b"text", "text/plain")
    )

    attachment.refresh_from_db()
    assert attachment.original_name == expected
    assert len(attachment.original_name) <= 255


def test_add_journals_entry(consultation, demo):
    attachment = attachments.add_attachment(demo["operator"], consultation.pk, upload())

    entry = JournalEntry.objects.get(action="attachment:create")
    assert entry.object_id == str(attachment.pk)
    assert entry.after == {
        "sha256": attachment.sha256,
        "size": attachment.size,
        "content_type": "application/pdf",
    }


def test_add_too_large_rejected(consultation, demo, settings, small_uploads):
    with pytest.raises(PayloadTooLarge) as caught:
        attachments.add_attachment(
            demo["citizen"], consultation.pk, upload(content=b"x" * 1001)
        )

    assert caught.value.status == 413
    assert caught.value.field == "file"
    assert not Attachment.objects.exists()
    assert stored_files(settings) == []


def test_add_at_limit_allowed(consultation, demo, small_uploads):
    attachment = attachments.add_attachment(
        demo["citizen"], consultation.pk, upload(content=b"%PDF-1.4" + b"x" * 992)
    )

    assert attachment.size == 1000


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("setup.exe", "application/x-msdownload"),
        ("page.html", "text/html"),
        ("image.svg", "image/svg+xml"),
        ("setup.exe", "application/octet-stream"),
    ],
)
def test_add_unlisted_type_rejected(consultation, demo, settings, name, content_type):
    with pytest.raises(UnsupportedMediaType) as caught:
        attachments.add_attachment(
            demo["citizen"], consultation.pk, upload(name, b"MZ", content_type)
        )

    assert caught.value.status == 415
    assert caught.value.field == "file"
    assert not Attachment.objects.exists()
    assert stored_files(settings) == []


def test_add_empty_file_rejected(consultation, demo):
    with pytest.raises(ValidationFailed) as caught:
        attachments.add_attachment(
            demo["citizen"], consultation.pk, upload(content=b"")
        )

    assert caught.value.field == "file"


def test_add_missing_file_rejected(consultation, demo):
    with pytest.raises(ValidationFailed) as caught:
        attachments.add_attachment(demo["citizen"], consultation.pk, None)

    assert caught.value.field == "file"


@pytest.mark.parametrize("username", ["auditor", "admin", "supervisor"])
def test_add_by_non_drafting_staff_rejected(consultation, demo, settings, username):
    with pytest.raises(PermissionDenied):
        attachments.add_attachment(demo[username], consultation.pk, upload())

    assert stored_files(settings) == []


@pytest.mark.parametrize("username", ["citizen2", "operator2"])
def test_add_by_outsider_not_found(consultation, demo, settings, username):
    with pytest.raises(NotFound):
        attachments.add_attachment(demo[username], consultation.pk, upload())

    assert stored_files(settings) == []


def test_open_returns_content(consultation, demo):
    attachment = attachments.add_attachment(
        demo["citizen"], consultation.pk, upload(content=b"%PDF-1.4 body")
    )

    opened, handle = attachments.open_attachment(
        demo["reviewer"], consultation.pk, attachment.pk
    )
    with handle:
        assert handle.read() == b"%PDF-1.4 body"
    assert opened.pk == attachment.pk


def test_open_unknown_attachment_not_found(consultation, demo):
    with pytest.raises(NotFound) as caught:
        attachments.open_attachment(demo["citizen"], consultation.pk, 424242)

    assert caught.value.field == "attachment_id"


def test_open_attachment_of_other_consultation_not_found(consultation, demo):
    other = open_consultation(demo["citizen"])
    attachment = attachments.add_attachment(demo["citizen"], other.pk, upload())

    with pytest.raises(NotFound):
        attachments.open_attachment(demo["citizen"], consultation.pk, attachment.pk)


def test_open_by_other_citizen_not_found(consultation, demo):
    attachment = attachments.add_attachment(demo["citizen"], consultation.pk, upload())

    with pytest.raises(NotFound) as caught:
        attachments.open_attachment(demo["citizen2"], consultation.pk, attachment.pk)

    assert caught.value.field == "consultation_id"
