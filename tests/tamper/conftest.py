"""A signed consultation under a checkpoint, and a way past the append-only triggers."""

from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction

from consultations.factories import consultation_in, upload
from protokol.consultations import services as consultations
from protokol.consultations.attachments import add_attachment
from protokol.consultations.models import Status
from protokol.journal import checkpoints
from protokol.signing import pki
from signing.conftest import REVIEWER

# The append-only triggers of each table, as the signing and journal
# migrations name them.
TRIGGERS = {
    "sqlite": {
        **{
            table: [f"{table}_no_update", f"{table}_no_delete"]
            for table in ("journal_entry", "journal_checkpoint", "signing_signature")
        },
        "journal_payload": [
            "journal_payload_no_update",
            "journal_payload_delete_redacted",
        ],
    },
    "postgresql": {
        table: [f"{table}_no_update_delete"]
        for table in (
            "journal_entry",
            "journal_checkpoint",
            "journal_payload",
            "signing_signature",
        )
    },
}


@contextmanager
def triggers_removed(*tables: str):
    """Remove the append-only triggers of `tables` for the block, then roll back."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # ALTER TABLE fails while deferred foreign key checks of rows
                # inserted in this transaction are pending.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for table in tables:
                for trigger in TRIGGERS[connection.vendor][table]:
                    if connection.vendor == "sqlite":
                        cursor.execute(f"DROP TRIGGER {trigger}")
                    else:
                        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        yield
        transaction.set_rollback(True)


@pytest.fixture(scope="session")
def tamper_pki(tmp_path_factory) -> Path:
    """A PKI of this package's own, so the signing tests' session PKI stays theirs."""
    directory = tmp_path_factory.mktemp("tamper-pki")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(settings.CONFIG, "pki_dir", directory)
        patch.setattr(settings.CONFIG, "demo", True)
        pki.init_pki()
        pki.issue_user_certificate(REVIEWER)
    return directory


@pytest.fixture
def signed(demo, tamper_pki, monkeypatch):
    """A consultation with a message and an attachment, signed, then checkpointed."""
    monkeypatch.setattr(settings.CONFIG, "pki_dir", tamper_pki)
    monkeypatch.setattr(settings.CONFIG, "demo", True)
    consultation = consultation_in(demo, Status.DRAFTING)
    consultations.add_message(
        demo["operator"], consultation.pk, text="Уточните дату", visibility="public"
    )
    add_attachment(demo["operator"], consultation.pk, upload())
    for username, action in (
        ("operator", "submit"),
        ("reviewer", "approve"),
        ("reviewer", "sign"),
    ):
        consultations.transition(demo[username], consultation.pk, action=action)
    # The test transaction never commits, so the checkpoint that signing
    # schedules after the commit is issued here.
    checkpoints.issue_checkpoint()
    consultation.refresh_from_db()
    return consultation
