"""Signed checkpoints: format, signature by Ed25519, key handling, issuance."""

import base64
import hashlib
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import translation

from journal.conftest import append_raw_leaves, numbered_leaf_hashes
from protokol.consultations import services
from protokol.journal import checkpoints, tree
from protokol.journal.models import Checkpoint


def split_note(note: str) -> tuple[str, str, str, bytes]:
    """Split a note with one signature into body, key name, line and raw signature."""
    body, signature_line = note.split("\n\n")
    assert signature_line.endswith("\n")
    dash, name, encoded = signature_line[:-1].split(" ")
    assert dash == "\u2014"
    return body + "\n", name, signature_line, base64.b64decode(encoded)


def test_checkpoint_note_format(db):
    append_raw_leaves(numbered_leaf_hashes(5))

    checkpoint = checkpoints.issue_checkpoint()

    body, name, _, raw = split_note(checkpoint.note)
    origin, size, root, end = body.split("\n")
    assert origin == "protokol.local/journal"
    assert size == "5"
    assert base64.b64decode(root) == tree.root(5)
    assert end == ""
    assert name == origin
    assert len(raw) == 4 + 64
    assert checkpoint.size == 5
    assert checkpoint.root_hash == tree.root(5).hex()


def test_checkpoint_signature_verifies_with_cryptography(db):
    append_raw_leaves(numbered_leaf_hashes(3))
    checkpoint = checkpoints.issue_checkpoint()
    verifier = checkpoints.verifier_key()

    body, name, _, raw = split_note(checkpoint.note)
    public = Ed25519PublicKey.from_public_bytes(verifier.public_key)
    public.verify(raw[4:], body.encode())  # raises InvalidSignature if wrong

    expected_id = hashlib.sha256(
        name.encode() + b"\n\x01" + verifier.public_key
    ).digest()[:4]
    assert raw[:4] == expected_id


def test_verifier_key_string_round_trip(db):
    verifier = checkpoints.verifier_key()

    text = str(verifier)
    name, hex_id, encoded = text.split("+", 2)
    assert name == "protokol.local/journal"
    assert bytes.fromhex(hex_id) == verifier.key_id
    assert base64.b64decode(encoded) == b"\x01" + verifier.public_key
    assert checkpoints.parse_verifier_key(text) == verifier


def test_verifier_key_with_wrong_id_rejected(db, english):
    name, _, encoded = str(checkpoints.verifier_key()).split("+", 2)

    with pytest.raises(checkpoints.NoteInvalid, match="key id"):
        checkpoints.parse_verifier_key(f"{name}+00000000+{encoded}")


def test_malformed_verifier_key_shown_shortened(english):
    text = "-----BEGIN CERTIFICATE-----\n" + "A" * 2000 + "\n-----END CERTIFICATE-----"

    with pytest.raises(checkpoints.NoteInvalid) as raised:
        checkpoints.parse_verifier_key(text)

    message = str(raised.value)
    assert "'-----BEGIN CERTIFICATE-----\nAAAAAAAAAAAA…'" in message
    assert "journal.pub" in message
    assert len(message) < 120


def test_verify_note_accepts_issued_checkpoint(db):
    append_raw_leaves(numbered_leaf_hashes(4))
    checkpoint = checkpoints.issue_checkpoint()

    note = checkpoints.verify_note(checkpoint.note, checkpoints.verifier_key())

    assert note.size == 4
    assert note.root == tree.root(4)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda note: note.replace("\n4\n", "\n5\n", 1),
        lambda note: note.replace("protokol.local/journal\n", "other.example/log\n", 1),
        lambda note: note.replace("\n\n", "\n", 1),
        lambda note: note[:-6] + "AAAAA\n",
    ],
    ids=["size", "origin", "no blank line", "signature"],
)
def test_verify_note_rejects_tampering(db, tamper):
    append_raw_leaves(numbered_leaf_hashes(4))
    checkpoint = checkpoints.issue_checkpoint()

    with pytest.raises(checkpoints.NoteInvalid):
        checkpoints.verify_note(tamper(checkpoint.note), checkpoints.verifier_key())


def test_verify_note_rejects_other_key(db, tmp_path, monkeypatch, english):
    append_raw_leaves(numbered_leaf_hashes(2))
    checkpoint = checkpoints.issue_checkpoint()
    monkeypatch.setattr(settings.CONFIG, "data_dir", tmp_path / "other")

    with pytest.raises(checkpoints.NoteInvalid, match="no signature by key"):
        checkpoints.verify_note(checkpoint.note, checkpoints.verifier_key())


def test_note_error_in_active_language(db, tmp_path, monkeypatch, russian_catalog):
    append_raw_leaves(numbered_leaf_hashes(2))
    checkpoint = checkpoints.issue_checkpoint()
    monkeypatch.setattr(settings.CONFIG, "data_dir", tmp_path / "other")
    message = "note carries no signature by key '%(name)s'"
    russian = russian_catalog(message, "в заметке нет подписи ключом «%(name)s»")

    with pytest.raises(checkpoints.NoteInvalid) as raised:
        checkpoints.verify_note(checkpoint.note, checkpoints.verifier_key())

    name = settings.CONFIG.journal_origin
    with translation.override("ru"):
        assert str(raised.value) == russian % {"name": name}
    with translation.override("en"):
        assert str(raised.value) == message % {"name": name}


def test_missing_key_error_in_active_language(db, monkeypatch, russian_catalog):
    monkeypatch.setattr(settings.CONFIG, "demo", False)
    message = (
        "Checkpoint signing key %(path)s does not exist: set "
        "PROTOKOL_JOURNAL_KEY_FILE to an Ed25519 PKCS#8 PEM file."
    )
    russian = russian_catalog(message, "Ключа %(path)s нет.")

    with pytest.raises(checkpoints.SigningKeyMissing) as raised:
        checkpoints.verifier_key()

    path = checkpoints.key_path()
    with translation.override("ru"):
        assert str(raised.value) == russian % {"path": path}
    with translation.override("en"):
        assert str(raised.value) == message % {"path": path}


def test_demo_key_generated_private(db, tmp_path):
    checkpoints.verifier_key()

    key_file = tmp_path / "journal_ed25519.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in key_file.read_bytes()


def test_missing_key_outside_demo_rejected(db, monkeypatch, english):
    monkeypatch.setattr(settings.CONFIG, "demo", False)

    with pytest.raises(checkpoints.SigningKeyMissing, match="PROTOKOL_JOURNAL_KEY"):
        checkpoints.issue_checkpoint()


def test_configured_key_file_used(db, tmp_path, monkeypatch):
    checkpoints.verifier_key()
    generated = tmp_path / "journal_ed25519.pem"
    moved = tmp_path / "keys" / "log.pem"
    moved.parent.mkdir()
    generated.rename(moved)
    monkeypatch.setattr(settings.CONFIG, "journal_key_file", moved)

    checkpoint = checkpoints.issue_checkpoint()

    assert not generated.exists()
    assert checkpoints.verify_note(checkpoint.note, checkpoints.verifier_key())


def test_checkpoint_issued_every_n_entries(
    demo, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(settings.CONFIG, "journal_checkpoint_every", 2)
    before = Checkpoint.objects.count()

    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(4):
            services.journal_list_read(demo["operator"], count=0, filters={})

    issued = list(Checkpoint.objects.order_by("id"))[before:]
    assert len(issued) == 2
    assert issued[-1].size == tree.tree_size()


def test_checkpoint_table_append_only(db):
    checkpoint = checkpoints.issue_checkpoint()

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Checkpoint.objects.filter(pk=checkpoint.pk).update(size=99)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Checkpoint.objects.filter(pk=checkpoint.pk).delete()


def test_merkle_node_table_append_only(db):
    append_raw_leaves(numbered_leaf_hashes(2))

    for statement in (
        "UPDATE journal_merkle_node SET hash = 'x'",
        "DELETE FROM journal_merkle_node",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)


def test_sign_issues_checkpoint(demo, django_capture_on_commit_callbacks):
    from consultations.factories import consultation_in
    from protokol.journal.models import Checkpoint, JournalEntry

    approved = consultation_in(demo, "approved")
    with django_capture_on_commit_callbacks(execute=True):
        services.transition(demo["reviewer"], approved.pk, action="sign")

    checkpoint = Checkpoint.objects.order_by("-id").first()
    assert checkpoint is not None
    assert checkpoint.size == JournalEntry.objects.count()
