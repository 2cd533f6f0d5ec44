"""Fixtures of the journal tests: a signing key per test, leaves with given hashes."""

import hashlib
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.db import connection, transaction

from protokol.journal import tree
from protokol.journal.models import JournalEntry


@pytest.fixture(autouse=True)
def _journal_key_in_tmp(monkeypatch, tmp_path):
    # Each test signs with a fresh demo key generated under its own directory.
    monkeypatch.setattr(settings.CONFIG, "data_dir", tmp_path)
    monkeypatch.setattr(settings.CONFIG, "journal_key_file", None)


def write_signing_key(path: Path) -> Path:
    """Write a new Ed25519 checkpoint signing key to `path` as PKCS#8 PEM."""
    path.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def append_raw_leaves(leaf_hashes: list[bytes]) -> None:
    """Append entries whose leaf hashes are given, as record() stores them.

    Test vectors fix the leaf hashes, which no real entry content produces, so
    the entries are inserted directly and the tree is updated as in record().
    """
    start = JournalEntry.objects.count()
    with transaction.atomic():
        for offset, leaf_hash in enumerate(leaf_hashes):
            index = start + offset
            JournalEntry.objects.create(
                index=index,
                created_at=datetime(2026, 1, 1, tzinfo=UTC),
                action="journal:read",
                actor_name="system",
                actor_role="system",
                object_type="test",
                object_id=str(index),
                object_label="",
                leaf_hash=leaf_hash.hex(),
            )
            tree.append_leaf(index, leaf_hash.hex())


def numbered_leaf_hashes(count: int) -> list[bytes]:
    return [hashlib.sha256(b"\x00leaf %d" % number).digest() for number in range(count)]


TRIGGERS = {
    "sqlite": {
        "journal_entry": ["journal_entry_no_update", "journal_entry_no_delete"],
        "journal_merkle_node": [
            "journal_merkle_node_no_update",
            "journal_merkle_node_no_delete",
        ],
        "journal_checkpoint": [
            "journal_checkpoint_no_update",
            "journal_checkpoint_no_delete",
        ],
        "journal_payload": [
            "journal_payload_no_update",
            "journal_payload_delete_redacted",
        ],
    },
    "postgresql": {
        "journal_entry": ["journal_entry_no_update_delete"],
        "journal_merkle_node": ["journal_merkle_node_no_update_delete"],
        "journal_checkpoint": ["journal_checkpoint_no_update_delete"],
        "journal_payload": ["journal_payload_no_update_delete"],
    },
}


@contextmanager
def triggers_removed(*tables: str):
    """Remove the append-only triggers of `tables` for the block, then roll back."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            for table in tables:
                for trigger in TRIGGERS[connection.vendor][table]:
                    if connection.vendor == "sqlite":
                        cursor.execute(f"DROP TRIGGER {trigger}")
                    else:
                        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        yield
        transaction.set_rollback(True)
