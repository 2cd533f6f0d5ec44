"""Format 2 entries: redacting payloads keeps every hash, proof and checkpoint."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from journal.conftest import triggers_removed
from protokol.consultations import services
from protokol.journal import checkpoints, merkle, tree
from protokol.journal.canonical import REDACTED, canonical_bytes, leaf_hash
from protokol.journal.models import JournalAction, JournalEntry, JournalPayload
from protokol.journal.services import (
    VerifyProblem,
    iter_entry_rows,
    record,
    redact,
    verify,
    with_payloads,
)

INDEX = connection.ops.quote_name("index")


def run_verify() -> str:
    output = StringIO()
    call_command("journal", "verify", verbosity=0, stdout=output)
    return output.getvalue()


def execute(sql: str, params=()) -> None:
    """Run raw SQL in a savepoint, so a rejected statement leaves the test usable."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.fixture
def withdrawn(consultation, demo):
    """A consultation whose citizen wrote a message and withdrew with a comment."""
    services.add_message(
        demo["citizen"], consultation.pk, text="Добрый день", visibility="public"
    )
    services.transition(
        demo["citizen"], consultation.pk, action="withdraw", comment="Передумала, Анна"
    )
    return consultation


def consultation_indexes(consultation) -> list[int]:
    return list(
        JournalEntry.objects.filter(consultation_id=consultation.pk).values_list(
            "index", flat=True
        )
    )


def redact_consultation(consultation) -> list[int]:
    with transaction.atomic():
        return redact(
            consultation_indexes(consultation),
            grounds="retention:delete",
            consultation_id=consultation.pk,
        )


def test_new_entries_store_no_name(withdrawn):
    entry = JournalEntry.objects.get(action="consultation:transition")

    assert entry.format == 2
    assert entry.actor_name == ""
    assert "comment" not in entry.after
    assert JournalPayload.objects.get(entry=entry).body["after"] == {
        "comment": "Передумала, Анна"
    }


def test_payload_merged_for_readers(withdrawn):
    entry = with_payloads([JournalEntry.objects.get(action="consultation:transition")])[
        0
    ]

    assert entry.actor_name == "Анна Иванова"
    assert entry.after["comment"] == "Передумала, Анна"
    assert entry.after["action"] == "withdraw"


def test_redaction_keeps_root_and_proofs(withdrawn):
    checkpoint = checkpoints.issue_checkpoint()
    old_size = checkpoint.size
    old_root = tree.root(old_size)
    proofs = {
        index: tree.inclusion_proof(index, old_size)
        for index in consultation_indexes(withdrawn)
    }
    leaves = dict(JournalEntry.objects.values_list("index", "leaf_hash"))

    redacted = redact_consultation(withdrawn)

    assert sorted(redacted) == sorted(proofs)
    assert tree.root(old_size) == old_root
    for index, proof in proofs.items():
        assert merkle.verify_inclusion(
            index, old_size, bytes.fromhex(leaves[index]), proof, old_root
        ), index
    new_size = tree.tree_size()
    assert new_size > old_size
    assert merkle.verify_consistency(
        old_size,
        new_size,
        old_root,
        tree.root(new_size),
        tree.consistency_proof(old_size, new_size),
    )
    for entry in JournalEntry.objects.filter(index__in=redacted):
        assert leaf_hash(canonical_bytes(entry)) == entry.leaf_hash, entry.index


def test_redaction_appends_named_entry(withdrawn):
    redacted = redact_consultation(withdrawn)

    entry = JournalEntry.objects.order_by("-index").first()
    assert entry.action == JournalAction.JOURNAL_REDACT
    assert entry.after["indexes"] == sorted(redacted)
    assert entry.after["grounds"] == "retention:delete"
    assert not JournalPayload.objects.filter(entry_id__in=redacted).exists()


def test_verify_passes_after_redaction(withdrawn):
    redact_consultation(withdrawn)
    checkpoints.issue_checkpoint()

    assert "Journal OK" in run_verify()
    assert verify(iter_entry_rows()) is None


def test_redacted_entry_shows_marker(withdrawn):
    target = JournalEntry.objects.get(action="consultation:transition")
    redact_consultation(withdrawn)

    entry = with_payloads([JournalEntry.objects.get(index=target.index)])[0]

    assert entry.actor_name == REDACTED
    assert entry.object_label == REDACTED
    assert entry.after["action"] == "withdraw"
    assert "comment" not in entry.after


def test_redaction_skips_missing_payloads(withdrawn):
    first = redact_consultation(withdrawn)

    with transaction.atomic():
        again = redact(first, grounds="retention:delete")

    assert again == []
    assert "Journal OK" in run_verify()


def test_delete_without_redact_entry_rejected(withdrawn):
    target = JournalEntry.objects.get(action="consultation:transition")

    with pytest.raises(DatabaseError, match="journal:redact"):
        execute(f"DELETE FROM journal_payload WHERE {INDEX} = %s", [target.index])

    assert JournalPayload.objects.filter(entry=target).exists()


def test_payload_update_rejected(withdrawn):
    with pytest.raises(DatabaseError, match="journal_payload"):
        execute("UPDATE journal_payload SET body = '{}'")


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="TRUNCATE triggers exist on PostgreSQL"
)
def test_payload_truncate_rejected(withdrawn):
    with pytest.raises(DatabaseError, match="TRUNCATE rejected"):
        execute("TRUNCATE journal_payload")


def test_delete_named_by_older_redact_entry_rejected(withdrawn, demo):
    redact_consultation(withdrawn)
    # A later entry makes the redact entry no longer the latest.
    services.read_consultation(demo["operator"], withdrawn.pk)
    kept = JournalPayload.objects.first()

    with pytest.raises(DatabaseError, match="journal:redact"):
        execute(f"DELETE FROM journal_payload WHERE {INDEX} = %s", [kept.entry_id])


@pytest.mark.parametrize(
    "table", ["journal_entry", "journal_merkle_node", "journal_checkpoint"]
)
def test_delete_on_other_journal_tables_rejected(withdrawn, table):
    checkpoints.issue_checkpoint()

    with pytest.raises(DatabaseError, match="append-only"):
        execute(f"DELETE FROM {table}")


def test_verify_fails_on_payload_deleted_silently(withdrawn):
    target = JournalEntry.objects.get(action="consultation:transition")

    with triggers_removed("journal_payload"):
        JournalPayload.objects.filter(entry=target).delete()
        problem = verify(iter_entry_rows())
        with pytest.raises(CommandError) as caught:
            run_verify()

    assert problem == VerifyProblem(
        target.index, "payload is missing and no journal:redact entry names it"
    )
    assert str(caught.value) == (
        f"Journal entry {target.index}: payload is missing and no journal:redact "
        "entry names it."
    )


def test_verify_fails_on_altered_payload(withdrawn):
    target = JournalEntry.objects.get(action="consultation:transition")
    payload = JournalPayload.objects.get(entry=target)
    forged = {**payload.body, "after": {"comment": "Не передумала"}}

    with triggers_removed("journal_payload"):
        JournalPayload.objects.filter(entry=target).update(body=forged)
        problem = verify(iter_entry_rows())

    assert problem == VerifyProblem(
        target.index, "payload hash does not match the stored payload"
    )


def test_verify_fails_on_payload_with_other_salt(withdrawn):
    target = JournalEntry.objects.get(action="consultation:transition")

    with triggers_removed("journal_payload"):
        JournalPayload.objects.filter(entry=target).update(salt=b"\x00" * 16)
        problem = verify(iter_entry_rows())

    assert problem == VerifyProblem(
        target.index, "payload hash does not match the stored payload"
    )


def test_verify_fails_on_name_written_into_header(withdrawn):
    target = JournalEntry.objects.get(action="consultation:transition")

    with triggers_removed("journal_entry"):
        JournalEntry.objects.filter(index=target.index).update(actor_name="Кто-то")
        problem = verify(iter_entry_rows())

    assert problem == VerifyProblem(
        target.index, "payload member stored in the header, outside the leaf hash"
    )


def append_format_1_entry(**fields) -> JournalEntry:
    """Append an entry as the code before format 2 wrote it: every field hashed."""
    with transaction.atomic():
        tree.lock_appends()
        index = tree.tree_size()
        entry = JournalEntry(
            index=index,
            created_at=timezone.now(),
            action=JournalAction.CONSULTATION_READ,
            actor_id=None,
            actor_name="Анна Иванова",
            actor_role="citizen",
            object_type="consultation",
            object_id="1",
            object_label="КП-1",
            consultation_id=None,
            request_id="",
            before=None,
            after={"comment": "старый текст"},
            format=1,
            payload_hash="",
            **fields,
        )
        entry.leaf_hash = leaf_hash(canonical_bytes(entry))
        JournalEntry.objects.bulk_create([entry])
        tree.append_leaves(index, [entry.leaf_hash])
    return entry


def test_format_1_entries_still_verify(withdrawn, demo):
    old = append_format_1_entry()
    services.read_consultation(demo["operator"], withdrawn.pk)
    checkpoints.issue_checkpoint()

    assert "Journal OK" in run_verify()
    stored = JournalEntry.objects.get(index=old.index)
    assert stored.format == 1
    assert stored.actor_name == "Анна Иванова"


def test_format_1_entry_tampering_detected(withdrawn):
    old = append_format_1_entry()

    with triggers_removed("journal_entry"):
        JournalEntry.objects.filter(index=old.index).update(actor_name="Подделка")
        problem = verify(iter_entry_rows())

    assert problem == VerifyProblem(old.index, "leaf hash does not match the content")


def test_redaction_skips_format_1(withdrawn):
    old = append_format_1_entry()

    with transaction.atomic():
        redacted = redact([old.index], grounds="retention:delete")

    assert redacted == []
    assert JournalEntry.objects.get(index=old.index).actor_name == "Анна Иванова"


def test_unknown_action_rejected(demo):
    count = JournalEntry.objects.count()

    with (
        pytest.raises(ValueError, match="not a JournalAction member"),
        transaction.atomic(),
    ):
        record("made:up", actor=None, object_type="x", object_id=1)

    assert JournalEntry.objects.count() == count


def test_api_entry_shows_redacted(withdrawn, api_client):
    target = JournalEntry.objects.get(action="consultation:transition")
    redact_consultation(withdrawn)

    response = api_client.login("auditor").get(
        f"/api/v1/journal/entries/{target.index}"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["actor_name"] == REDACTED
    assert body["object_label"] == REDACTED
    assert body["format"] == 2
    assert "comment" not in body["after"]
