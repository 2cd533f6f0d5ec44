import hashlib
from contextlib import contextmanager
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import rfc8785
from django.db import DatabaseError, connection, transaction

from consultations.factories import PROTOCOL, act, upload
from protokol.consultations import attachments, services
from protokol.journal.canonical import canonical_bytes, format_time
from protokol.journal.models import JournalEntry
from protokol.journal.services import (
    VerifyProblem,
    iter_entries,
    verify,
    with_payloads,
)
from protokol.protocols.services import save_protocol

INDEX = connection.ops.quote_name("index")
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="TRUNCATE triggers exist on PostgreSQL"
)


def execute(sql: str, params=()) -> None:
    """Run raw SQL in a savepoint, so a rejected statement leaves the test usable."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@contextmanager
def append_only_triggers_removed():
    """Remove the append-only triggers for the block, then roll everything back."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute("DROP TRIGGER journal_entry_no_update")
                cursor.execute("DROP TRIGGER journal_entry_no_delete")
            else:
                cursor.execute(
                    "ALTER TABLE journal_entry "
                    "DISABLE TRIGGER journal_entry_no_update_delete"
                )
        yield
        transaction.set_rollback(True)


def independent_leaf_hash(entry: JournalEntry) -> str:
    if entry.format == 2:
        return independent_header_hash(entry)
    document = {
        "index": entry.index,
        "time": entry.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "action": entry.action,
        "actor": {
            "id": entry.actor_id,
            "name": entry.actor_name,
            "role": entry.actor_role,
        },
        "object": {
            "type": entry.object_type,
            "id": entry.object_id,
            "label": entry.object_label,
        },
        "consultation_id": entry.consultation_id,
        "request_id": entry.request_id,
        "before": entry.before,
        "after": entry.after,
    }
    return hashlib.sha256(b"\x00" + rfc8785.dumps(document)).hexdigest()


def independent_header_hash(entry: JournalEntry) -> str:
    """Hash a stored format 2 header as the documented form, via rfc8785."""
    document = {
        "format": 2,
        "index": entry.index,
        "time": entry.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "action": entry.action,
        "actor": {"id": entry.actor_id, "role": entry.actor_role},
        "object": {"type": entry.object_type, "id": entry.object_id},
        "consultation_id": entry.consultation_id,
        "request_id": entry.request_id,
        "before": entry.before,
        "after": entry.after,
        "payload_hash": entry.payload_hash,
    }
    return hashlib.sha256(b"\x00" + rfc8785.dumps(document)).hexdigest()


@pytest.fixture
def busy_journal(consultation, demo):
    """A journal with entries of several kinds around one consultation."""
    services.add_message(
        demo["citizen"], consultation.pk, text="Добрый день", visibility="public"
    )
    save_protocol(demo["operator"], consultation.pk, **PROTOCOL)
    act(demo["operator"], consultation, "take")
    services.read_consultation(demo["reviewer"], consultation.pk)
    return consultation


def test_create_writes_verifiable_entry(consultation):
    entry = JournalEntry.objects.filter(consultation_id=consultation.pk).get()

    assert entry.action == "consultation:create"
    assert entry.actor_name == ""
    assert with_payloads([entry])[0].actor_name == "Анна Иванова"
    assert verify(iter_entries()) is None


# -- append-only triggers


@pytest.mark.parametrize(
    "statement",
    [
        f"UPDATE journal_entry SET actor_name = 'x' WHERE {INDEX} = 0",
        "UPDATE journal_entry SET after = NULL",
        f"DELETE FROM journal_entry WHERE {INDEX} = 0",
        "DELETE FROM journal_entry",
    ],
)
def test_raw_change_rejected_by_trigger(busy_journal, statement):
    before = list(JournalEntry.objects.values())

    with pytest.raises(DatabaseError, match="journal_entry is append-only"):
        execute(statement)

    assert list(JournalEntry.objects.values()) == before


def test_update_error_class_per_database(busy_journal):
    expected = {"sqlite": "IntegrityError", "postgresql": "ProgrammingError"}

    with pytest.raises(DatabaseError) as caught:
        execute("UPDATE journal_entry SET actor_name = 'x'")

    assert type(caught.value).__name__ == expected[connection.vendor]


def test_orm_update_rejected(busy_journal):
    with pytest.raises(DatabaseError), transaction.atomic():
        JournalEntry.objects.filter(index=0).update(actor_role="admin")

    assert JournalEntry.objects.get(index=0).actor_role == "system"


def test_orm_delete_rejected(busy_journal):
    entry = JournalEntry.objects.get(index=0)

    with pytest.raises(DatabaseError), transaction.atomic():
        entry.delete()

    assert JournalEntry.objects.filter(index=0).exists()


def test_orm_save_of_existing_rejected(busy_journal):
    entry = JournalEntry.objects.get(index=0)
    entry.actor_role = "admin"

    with pytest.raises(DatabaseError), transaction.atomic():
        entry.save()

    assert JournalEntry.objects.get(index=0).actor_role == "system"


@postgresql_only
def test_truncate_rejected_by_trigger(busy_journal):
    count = JournalEntry.objects.count()

    with pytest.raises(DatabaseError, match="TRUNCATE rejected"):
        execute("TRUNCATE journal_entry")

    assert JournalEntry.objects.count() == count


def test_insert_still_allowed(busy_journal):
    count = JournalEntry.objects.count()

    services.read_consultation(busy_journal.citizen, busy_journal.pk)

    assert JournalEntry.objects.count() == count + 1


# -- verification


def test_verify_passes_untouched_journal(busy_journal):
    assert verify(iter_entries()) is None


def test_verify_finds_changed_after(busy_journal):
    target = JournalEntry.objects.filter(action="consultation:transition").get()

    with append_only_triggers_removed():
        JournalEntry.objects.filter(index=target.index).update(
            after={**target.after, "status": "archived"}
        )
        problem = verify(iter_entries())

    assert problem == VerifyProblem(
        target.index, "leaf hash does not match the content"
    )


def test_verify_finds_changed_actor_name(busy_journal):
    target = JournalEntry.objects.filter(action="message:create").get()

    with append_only_triggers_removed():
        execute(
            f"UPDATE journal_entry SET actor_name = %s WHERE {INDEX} = %s",
            ["Кто-то другой", target.index],
        )
        problem = verify(iter_entries())

    assert problem == VerifyProblem(
        target.index, "payload member stored in the header, outside the leaf hash"
    )


def test_verify_finds_changed_actor_role(busy_journal):
    target = JournalEntry.objects.filter(action="message:create").get()

    with append_only_triggers_removed():
        execute(
            f"UPDATE journal_entry SET actor_role = %s WHERE {INDEX} = %s",
            ["admin", target.index],
        )
        problem = verify(iter_entries())

    assert problem == VerifyProblem(
        target.index, "leaf hash does not match the content"
    )


def test_verify_finds_deleted_entry(busy_journal):
    target = JournalEntry.objects.filter(action="message:create").get()

    with append_only_triggers_removed():
        execute(f"DELETE FROM journal_entry WHERE {INDEX} = %s", [target.index])
        problem = verify(iter_entries())

    assert problem == VerifyProblem(target.index, "entry is missing")


def test_verify_reads_in_batches(busy_journal):
    target = JournalEntry.objects.order_by("-index").first()

    with append_only_triggers_removed():
        JournalEntry.objects.filter(index=target.index).update(object_id="X")
        problem = verify(iter_entries(batch_size=2))

    assert problem.index == target.index


def test_triggers_back_after_tampering(busy_journal):
    with append_only_triggers_removed():
        JournalEntry.objects.filter(index=0).update(actor_role="admin")

    assert JournalEntry.objects.get(index=0).actor_role == "system"
    with pytest.raises(DatabaseError):
        execute("UPDATE journal_entry SET actor_name = 'x'")


def test_iter_entries_yields_all_in_order(busy_journal):
    indexes = [entry.index for entry in iter_entries(batch_size=3)]

    assert indexes == list(range(JournalEntry.objects.count()))


# -- hashes and indexes


def test_leaf_hash_matches_independent_computation(busy_journal):
    for entry in JournalEntry.objects.all():
        assert entry.leaf_hash == independent_leaf_hash(entry), entry.index


def test_canonical_bytes_of_fixed_entry():
    entry = JournalEntry(
        index=7,
        created_at=datetime(2026, 1, 2, 6, 4, 5, 6, tzinfo=ZoneInfo("Europe/Moscow")),
        action="consultation:read",
        actor_id=3,
        actor_name="Анна Иванова",
        actor_role="citizen",
        object_type="consultation",
        object_id="12",
        object_label="КП-2026-000012",
        consultation_id=12,
        request_id="abc",
        before=None,
        after={"via": "api", "count": 1.0},
    )
    expected = (
        '{"action":"consultation:read",'
        '"actor":{"id":3,"name":"Анна Иванова","role":"citizen"},'
        '"after":{"count":1,"via":"api"},'
        '"before":null,'
        '"consultation_id":12,'
        '"index":7,'
        '"object":{"id":"12","label":"КП-2026-000012","type":"consultation"},'
        '"request_id":"abc",'
        '"time":"2026-01-02T03:04:05.000006Z"}'
    ).encode()

    assert canonical_bytes(entry) == expected


def test_format_time_naive_rejected():
    with pytest.raises(ValueError):
        format_time(datetime(2026, 1, 2))  # noqa: DTZ001 - the naive time is the case


def test_indexes_gapless_from_zero(busy_journal):
    indexes = list(JournalEntry.objects.values_list("index", flat=True))

    assert indexes == list(range(len(indexes)))


def test_entry_times_are_aware(busy_journal):
    for entry in JournalEntry.objects.all():
        assert entry.created_at.utcoffset() is not None, entry.index


def test_entry_records_actor_as_text(busy_journal, demo):
    entry = with_payloads([JournalEntry.objects.get(action="message:create")])[0]

    assert entry.actor_id == demo["citizen"].pk
    assert entry.actor_name == "Анна Иванова"
    assert entry.actor_role == "citizen"
    assert entry.object_label == busy_journal.number


def test_system_entries_have_system_actor(demo):
    entry = with_payloads([JournalEntry.objects.get(index=0)])[0]

    assert entry.actor_id is None
    assert entry.actor_name == "system"
    assert entry.actor_role == "system"


# -- reads and denials


def test_read_journals_consultation_read(consultation, demo):
    services.read_consultation(demo["operator"], consultation.pk, via="page")

    entry = JournalEntry.objects.order_by("-index").first()
    assert entry.action == "consultation:read"
    assert entry.actor_id == demo["operator"].pk
    assert entry.consultation_id == consultation.pk
    assert entry.after == {"via": "page"}


def test_download_journals_attachment_read(consultation, demo):
    attachment = attachments.add_attachment(demo["citizen"], consultation.pk, upload())

    _, handle = attachments.open_attachment(
        demo["operator"], consultation.pk, attachment.pk
    )
    handle.close()

    entry = JournalEntry.objects.order_by("-index").first()
    assert entry.action == "attachment:read"
    assert entry.actor_id == demo["operator"].pk
    assert entry.object_id == str(attachment.pk)
    assert entry.after == {"sha256": attachment.sha256}


def test_denied_read_journals_access_denied(consultation, demo):
    with pytest.raises(services.NotFound):
        services.read_consultation(demo["citizen2"], consultation.pk)

    entry = JournalEntry.objects.order_by("-index").first()
    assert entry.action == "access:denied"
    assert entry.actor_id == demo["citizen2"].pk
    assert entry.object_id == str(consultation.pk)
    # Auditors find the attempt in the consultation's journal; citizens do not.
    assert entry.consultation_id == consultation.pk
    assert entry.after == {"reason": "not_visible"}


def test_missing_id_journals_access_denied(demo):
    with pytest.raises(services.NotFound):
        services.read_consultation(demo["citizen2"], 424242)

    entry = JournalEntry.objects.order_by("-index").first()
    assert entry.action == "access:denied"
    assert entry.after == {"reason": "not_found"}


@pytest.mark.parametrize(
    "write",
    [
        lambda user, pk: services.add_message(
            user, pk, text="Чужое", visibility="public"
        ),
        lambda user, pk: attachments.add_attachment(user, pk, upload()),
        lambda user, pk: save_protocol(user, pk, **PROTOCOL),
        lambda user, pk: services.transition(user, pk, action="take"),
        lambda user, pk: services.forward(
            user, pk, department_code="B", reason="Чужое"
        ),
    ],
    ids=["message", "attachment", "protocol", "transition", "forward"],
)
def test_denied_write_journals_access_denied(consultation, demo, write):
    with pytest.raises(services.NotFound):
        write(demo["operator2"], consultation.pk)

    entry = JournalEntry.objects.order_by("-index").first()
    assert entry.action == "access:denied"
    assert entry.actor_id == demo["operator2"].pk
    assert entry.after == {"reason": "not_visible"}
