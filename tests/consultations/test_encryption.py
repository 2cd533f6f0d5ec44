"""Attachment contents encrypted at rest with AES-256-GCM under a master key."""

import hashlib
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from protokol.consultations import attachments, encryption
from protokol.consultations.models import Attachment
from protokol.errors import IntegrityFailed
from protokol.journal.models import JournalEntry

from .factories import upload

MARKER = b"PROTOKOL-PLAINTEXT-MARKER-5d1e"
MARKED_CONTENT = "Справка о доходах\n".encode().join([MARKER] * 40) + b"\n"


def write_key(path: Path, key: bytes | None = None) -> Path:
    path.write_bytes(key or secrets.token_bytes(32))
    path.chmod(0o600)
    return path


@pytest.fixture
def master_key_file(settings, tmp_path, monkeypatch) -> Path:
    """Configure a fresh master key file for the test."""
    path = write_key(tmp_path / "master.key")
    monkeypatch.setattr(settings.CONFIG, "master_key_file", path)
    return path


def stored_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def download_path(attachment: Attachment) -> str:
    return (
        f"/api/v1/consultations/{attachment.consultation_id}"
        f"/attachments/{attachment.pk}"
    )


def flip_byte(path: Path, index: int) -> None:
    data = bytearray(path.read_bytes())
    data[index] ^= 0x01
    path.write_bytes(bytes(data))


# Runs in a fresh data directory with its own SQLite database, so the rows
# are committed and on disk when the files are scanned. The content comes in
# on stdin, so the marker is in no file before the upload.
UPLOAD_SCRIPT = """
import sys

import django

django.setup()

from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from protokol.accounts.demo import seed_demo
from protokol.accounts.models import User
from protokol.consultations import attachments, services

call_command("migrate", verbosity=0)
seed_demo()
citizen = User.objects.get(username="citizen")
consultation = services.create_consultation(
    citizen, service_code="GEN", subject="Проверка", description="Проверка"
)
content = sys.stdin.buffer.read()
upload = SimpleUploadedFile("marker-check.txt", content, content_type="text/plain")
attachment = attachments.add_attachment(citizen, consultation.pk, upload)
_, handle = attachments.open_attachment(citizen, consultation.pk, attachment.pk)
with handle:
    sys.stdout.buffer.write(handle.read())
"""


def test_marker_absent_from_data_dir_files(tmp_path):
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "protokol.settings",
        "PROTOKOL_DEMO": "1",
        "PROTOKOL_DATA_DIR": str(tmp_path),
        "PROTOKOL_DATABASE_URL": "",
    }
    # The demo key is generated into the data directory.
    environment.pop("PROTOKOL_MASTER_KEY_FILE", None)

    result = subprocess.run(
        [sys.executable, "-c", UPLOAD_SCRIPT],
        input=MARKED_CONTENT,
        capture_output=True,
        env=environment,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stdout == MARKED_CONTENT
    attachment_files = [p for p in (tmp_path / "attachments").rglob("*") if p.is_file()]
    assert len(attachment_files) == 1
    database_files = list(tmp_path.glob("protokol.sqlite3*"))
    # The committed row is in the database files, so the scan can see its data.
    assert b"marker-check.txt" in b"".join(p.read_bytes() for p in database_files)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert MARKER not in path.read_bytes(), path


def test_marker_absent_from_database_rows(
    consultation, api_client, settings, master_key_file
):
    client = api_client.login("citizen")
    file = SimpleUploadedFile(
        "marker-check.txt", MARKED_CONTENT, content_type="text/plain"
    )

    created = client.post(
        f"/api/v1/consultations/{consultation.pk}/attachments", {"file": file}
    )
    response = client.get(download_path(Attachment.objects.get()))

    assert created.status_code == 201, created.content
    values = list(database_values())
    assert b"marker-check.txt" in values
    assert not [value for value in values if MARKER in value]
    for path in stored_files(settings):
        assert MARKER not in path.read_bytes()
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == MARKED_CONTENT


def database_values():
    """Yield every text and binary value in every table as bytes."""
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, str):
                        yield value.encode()
                    elif isinstance(value, bytes | memoryview):
                        yield bytes(value)
                    elif isinstance(value, dict | list):
                        yield json.dumps(value, ensure_ascii=False).encode()


def test_row_records_envelope(consultation, demo, master_key_file):
    key = master_key_file.read_bytes()

    attachment = attachments.add_attachment(
        demo["citizen"], consultation.pk, upload(content=b"%PDF-1.4 body")
    )

    attachment.refresh_from_db()
    assert attachment.encryption_key_id == hashlib.sha256(key).hexdigest()[:16]
    assert len(bytes(attachment.wrapped_key)) == 48
    assert len(bytes(attachment.wrap_nonce)) == 12
    assert len(bytes(attachment.content_nonce)) == 12
    assert attachment.sha256 == hashlib.sha256(b"%PDF-1.4 body").hexdigest()


def test_same_content_encrypts_differently(consultation, demo, master_key_file):
    first = attachments.add_attachment(demo["citizen"], consultation.pk, upload())
    second = attachments.add_attachment(demo["citizen"], consultation.pk, upload())

    with default_storage.open(first.storage_key, "rb") as handle:
        first_stored = handle.read()
    with default_storage.open(second.storage_key, "rb") as handle:
        second_stored = handle.read()
    assert first_stored != second_stored
    assert bytes(first.content_nonce) != bytes(second.content_nonce)
    assert bytes(first.wrapped_key) != bytes(second.wrapped_key)


@pytest.mark.parametrize("index", [0, 7, -1], ids=["first", "middle", "tag"])
def test_flipped_ciphertext_byte_gives_json_error(
    consultation, demo, api_client, settings, master_key_file, index
):
    attachment = attachments.add_attachment(
        demo["citizen"], consultation.pk, upload(content=b"%PDF-1.4 body")
    )
    flip_byte(Path(settings.MEDIA_ROOT) / attachment.storage_key, index)

    response = api_client.login("citizen").get(download_path(attachment))

    assert response.status_code == 409
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response.json()["error"] == "integrity_failed"
    assert response.json()["field"] == "attachment_id"
    assert not JournalEntry.objects.filter(action="attachment:read").exists()


def test_truncated_ciphertext_rejected(consultation, demo, settings, master_key_file):
    attachment = attachments.add_attachment(demo["citizen"], consultation.pk, upload())
    path = Path(settings.MEDIA_ROOT) / attachment.storage_key
    path.write_bytes(path.read_bytes()[:-1])

    with pytest.raises(IntegrityFailed) as caught:
        attachments.open_attachment(demo["citizen"], consultation.pk, attachment.pk)

    assert caught.value.status == 409


def test_altered_wrapped_key_rejected(consultation, demo, master_key_file):
    attachment = attachments.add_attachment(demo["citizen"], consultation.pk, upload())
    wrapped = bytearray(bytes(attachment.wrapped_key))
    wrapped[0] ^= 0x01
    Attachment.objects.filter(pk=attachment.pk).update(wrapped_key=bytes(wrapped))

    with pytest.raises(IntegrityFailed):
        attachments.open_attachment(demo["citizen"], consultation.pk, attachment.pk)


def test_swapped_files_rejected(consultation, demo, settings, master_key_file):
    first = attachments.add_attachment(demo["citizen"], consultation.pk, upload())
    second = attachments.add_attachment(demo["citizen"], consultation.pk, upload())
    root = Path(settings.MEDIA_ROOT)
    first_bytes = (root / first.storage_key).read_bytes()
    (root / first.storage_key).write_bytes((root / second.storage_key).read_bytes())
    (root / second.storage_key).write_bytes(first_bytes)

    with pytest.raises(IntegrityFailed):
        attachments.open_attachment(demo["citizen"], consultation.pk, first.pk)


def test_plaintext_row_downloads_as_stored(consultation, demo):
    # A row written before encryption at rest: no wrapped key, plaintext file.
    key = default_storage.save("ab/" + "ab" * 16, upload(content=b"%PDF-1.4 old"))
    legacy = Attachment.objects.create(
        consultation=consultation,
        uploaded_by=demo["citizen"],
        original_name="old.pdf",
        content_type="application/pdf",
        size=12,
        sha256=hashlib.sha256(b"%PDF-1.4 old").hexdigest(),
        storage_key=key,
        created_at=timezone.now(),
    )

    _, handle = attachments.open_attachment(demo["citizen"], consultation.pk, legacy.pk)

    with handle:
        assert handle.read() == b"%PDF-1.4 old"
    assert legacy.encryption_key_id == ""


def test_demo_key_generated_with_mode_0600(settings, tmp_path, monkeypatch):
    monkeypatch.setattr(settings.CONFIG, "demo", True)
    monkeypatch.setattr(settings.CONFIG, "data_dir", tmp_path)
    monkeypatch.setattr(settings.CONFIG, "master_key_file", None)

    first = encryption.load_master_key()
    second = encryption.load_master_key()

    path = tmp_path / "master.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(path.read_bytes()) == 32
    assert first.key_id == second.key_id
    assert first.key_id == hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def test_missing_key_outside_demo_rejected(settings, tmp_path, monkeypatch):
    monkeypatch.setattr(settings.CONFIG, "demo", False)
    monkeypatch.setattr(settings.CONFIG, "data_dir", tmp_path)
    monkeypatch.setattr(settings.CONFIG, "master_key_file", None)

    with pytest.raises(encryption.MasterKeyMissing) as caught:
        encryption.load_master_key()

    assert "PROTOKOL_MASTER_KEY_FILE is not set" in str(caught.value)
    assert not (tmp_path / "master.key").exists()


def test_configured_key_file_absent_rejected(settings, tmp_path, monkeypatch):
    monkeypatch.setattr(settings.CONFIG, "demo", True)
    monkeypatch.setattr(settings.CONFIG, "master_key_file", tmp_path / "absent.key")

    with pytest.raises(encryption.MasterKeyMissing) as caught:
        encryption.load_master_key()

    assert str(tmp_path / "absent.key") in str(caught.value)
    assert "does not exist" in str(caught.value)
    assert not (tmp_path / "absent.key").exists()


def test_short_key_file_rejected(settings, tmp_path, monkeypatch):
    path = tmp_path / "short.key"
    path.write_bytes(b"x" * 16)
    monkeypatch.setattr(settings.CONFIG, "master_key_file", path)

    with pytest.raises(encryption.MasterKeyMissing) as caught:
        encryption.load_master_key()

    assert "contains 16 bytes" in str(caught.value)


def test_add_without_key_stores_nothing(
    consultation, demo, settings, tmp_path, monkeypatch
):
    monkeypatch.setattr(settings.CONFIG, "demo", False)
    monkeypatch.setattr(settings.CONFIG, "master_key_file", None)

    with pytest.raises(encryption.MasterKeyMissing):
        attachments.add_attachment(demo["citizen"], consultation.pk, upload())

    assert not Attachment.objects.exists()
    assert stored_files(settings) == []


def test_other_master_key_names_both_ids(
    consultation, demo, tmp_path, settings, monkeypatch, master_key_file
):
    attachment = attachments.add_attachment(demo["citizen"], consultation.pk, upload())
    other = write_key(tmp_path / "other.key")
    monkeypatch.setattr(settings.CONFIG, "master_key_file", other)

    with pytest.raises(encryption.MasterKeyMissing) as caught:
        attachments.open_attachment(demo["citizen"], consultation.pk, attachment.pk)

    assert attachment.encryption_key_id in str(caught.value)
    assert encryption.read_key_file(other).key_id in str(caught.value)


def test_flipped_byte_page_download_reports_error(
    consultation, demo, client, settings, master_key_file
):
    attachment = attachments.add_attachment(
        demo["citizen"], consultation.pk, upload(content=b"%PDF-1.4 body")
    )
    flip_byte(Path(settings.MEDIA_ROOT) / attachment.storage_key, 0)
    client.force_login(demo["citizen"])

    response = client.get(
        reverse("web:download_attachment", args=[consultation.pk, attachment.pk])
    )

    assert response.status_code == 409
    assert "text/html" in response["Content-Type"]
