"""`protokol keys rotate`: re-wrapping data keys under a new master key."""

import hashlib
import io
import secrets
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.utils import timezone

from protokol.consultations import attachments, encryption
from protokol.consultations.models import Attachment

from .factories import upload

CONTENTS = [b"%PDF-1.4 first", b"%PDF-1.4 second", b"%PDF-1.4 third"]


def write_key(path: Path) -> Path:
    path.write_bytes(secrets.token_bytes(32))
    path.chmod(0o600)
    return path


@pytest.fixture
def old_key(settings, tmp_path, monkeypatch) -> Path:
    """Configure the master key that the test's uploads are written under."""
    path = write_key(tmp_path / "old.key")
    monkeypatch.setattr(settings.CONFIG, "master_key_file", path)
    return path


@pytest.fixture
def new_key(tmp_path) -> Path:
    return write_key(tmp_path / "new.key")


@pytest.fixture
def uploaded(consultation, demo, old_key) -> list[Attachment]:
    """Three attachments written under the old key."""
    return [
        attachments.add_attachment(
            demo["citizen"], consultation.pk, upload(content=content)
        )
        for content in CONTENTS
    ]


def rotate(*arguments) -> str:
    output = io.StringIO()
    call_command("keys", "rotate", *map(str, arguments), stdout=output)
    return output.getvalue()


def stored_digest(attachment: Attachment) -> str:
    with default_storage.open(attachment.storage_key, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def read_all(demo, consultation, rows: list[Attachment]) -> list[bytes]:
    contents = []
    for row in rows:
        _, handle = attachments.open_attachment(
            demo["citizen"], consultation.pk, row.pk
        )
        with handle:
            contents.append(handle.read())
    return contents


def switch_key(settings, monkeypatch, path: Path) -> None:
    monkeypatch.setattr(settings.CONFIG, "master_key_file", path)


def test_rotate_rewraps_under_new_key(
    consultation, demo, settings, monkeypatch, uploaded, old_key, new_key
):
    before = {
        row.pk: (stored_digest(row), bytes(row.content_nonce)) for row in uploaded
    }

    output = rotate(new_key, "--batch-size", 2)

    new_id = encryption.read_key_file(new_key).key_id
    assert f"Re-wrapped 3 data keys under master key {new_id}." in output
    for row in Attachment.objects.all():
        assert row.encryption_key_id == new_id
        assert stored_digest(row) == before[row.pk][0]
        assert bytes(row.content_nonce) == before[row.pk][1]
    old_key.unlink()
    switch_key(settings, monkeypatch, new_key)
    assert read_all(demo, consultation, uploaded) == CONTENTS


def test_rotate_old_key_no_longer_reads(
    consultation, demo, settings, monkeypatch, uploaded, new_key
):
    rotate(new_key)

    with pytest.raises(encryption.MasterKeyMissing):
        read_all(demo, consultation, uploaded)


def test_rotate_rerun_changes_nothing(uploaded, new_key):
    rotate(new_key)
    wrapped = {row.pk: bytes(row.wrapped_key) for row in Attachment.objects.all()}

    output = rotate(new_key)

    assert "Re-wrapped 0 data keys" in output
    for row in Attachment.objects.all():
        assert bytes(row.wrapped_key) == wrapped[row.pk]


def test_rotate_rerun_after_switch_with_old_key(
    consultation, demo, settings, monkeypatch, uploaded, old_key, new_key
):
    rotate(new_key)
    # An upload made before the restart is still wrapped under the old key.
    late = attachments.add_attachment(
        demo["citizen"], consultation.pk, upload(content=b"%PDF-1.4 late")
    )
    switch_key(settings, monkeypatch, new_key)

    output = rotate(new_key, "--old-key-file", old_key)

    assert "Re-wrapped 1 data keys" in output
    assert read_all(demo, consultation, [*uploaded, late]) == [
        *CONTENTS,
        b"%PDF-1.4 late",
    ]


def test_rotate_unknown_key_reported(
    consultation, demo, settings, monkeypatch, tmp_path, uploaded, new_key
):
    switch_key(settings, monkeypatch, write_key(tmp_path / "unrelated.key"))

    with pytest.raises(CommandError) as caught:
        rotate(new_key)

    assert "incomplete" in str(caught.value)
    assert not Attachment.objects.filter(
        encryption_key_id=encryption.read_key_file(new_key).key_id
    ).exists()


def test_rotate_altered_wrapped_key_reported(uploaded, new_key):
    wrapped = bytearray(bytes(uploaded[0].wrapped_key))
    wrapped[0] ^= 0x01
    Attachment.objects.filter(pk=uploaded[0].pk).update(wrapped_key=bytes(wrapped))

    with pytest.raises(CommandError):
        rotate(new_key)

    new_id = encryption.read_key_file(new_key).key_id
    assert Attachment.objects.filter(encryption_key_id=new_id).count() == 2


def test_rotate_skips_plaintext_rows(consultation, demo, old_key, new_key):
    key = default_storage.save("cd/" + "cd" * 16, upload(content=b"%PDF-1.4 old"))
    legacy = Attachment.objects.create(
        consultation=consultation,
        original_name="old.pdf",
        content_type="application/pdf",
        size=12,
        sha256=hashlib.sha256(b"%PDF-1.4 old").hexdigest(),
        storage_key=key,
        created_at=timezone.now(),
    )

    output = rotate(new_key)

    legacy.refresh_from_db()
    assert "Re-wrapped 0 data keys" in output
    assert legacy.wrapped_key is None
    assert read_all(demo, consultation, [legacy]) == [b"%PDF-1.4 old"]


def test_rotate_missing_new_key_rejected(db, old_key, tmp_path):
    with pytest.raises(CommandError) as caught:
        rotate(tmp_path / "absent.key")

    assert "does not exist" in str(caught.value)


def test_rotate_bad_batch_size_rejected(db, old_key, new_key):
    with pytest.raises(CommandError) as caught:
        rotate(new_key, "--batch-size", 0)

    assert "--batch-size" in str(caught.value)
