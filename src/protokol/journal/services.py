"""Appending to the journal and checking it; the only code that writes entries."""

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from protokol.journal import checkpoints, tree
from protokol.journal.canonical import canonical_bytes, leaf_hash
from protokol.journal.models import JournalAction, JournalEntry
from protokol.journal.signals import entry_recorded
from protokol.logging import current_request_id

SYSTEM_ACTOR_NAME = "system"


def record(
    action: JournalAction,
    *,
    actor,
    object_type: str,
    object_id,
    object_label: str = "",
    consultation_id: int | None = None,
    before: dict | None = None,
    after: dict | None = None,
) -> JournalEntry:
    """Append one entry inside the caller's transaction and return it.

    `actor` is a user or None for the system. Callers pass ids and short
    summaries in `before`/`after`, never whole documents or secrets.
    """
    entry = record_many(
        [
            {
                "action": action,
                "actor": actor,
                "object_type": object_type,
                "object_id": object_id,
                "object_label": object_label,
                "consultation_id": consultation_id,
                "before": before,
                "after": after,
            }
        ]
    )[0]
    entry_recorded.send(sender=JournalEntry, entry=entry)
    return entry


def record_many(entries: Iterable[Mapping]) -> list[JournalEntry]:
    """Append several entries, in order, inside the caller's transaction.

    Each mapping contains `record()`'s arguments by name. The batch takes the
    append lock and reads the last index once. It then inserts the entries
    and their Merkle nodes with one statement each on PostgreSQL (SQLite
    needs one per few dozen rows, as it limits parameters per statement).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("journal entries are written inside a transaction")
    drafts = list(entries)
    if not drafts:
        return []
    tree.lock_appends()

    last = JournalEntry.objects.aggregate(last=Max("index"))["last"]
    first = 0 if last is None else last + 1
    request_id = current_request_id()
    rows = [
        _new_entry(index, request_id, **draft)
        for index, draft in enumerate(drafts, start=first)
    ]
    _insert_entries(rows)
    tree.append_leaves(first, [row.leaf_hash for row in rows])

    every = settings.CONFIG.journal_checkpoint_every
    if every > 0 and (first + len(rows)) // every > first // every:
        # After the commit, in a transaction of its own, so that a missing key
        # or a failed signature never rolls back the caller's change.
        transaction.on_commit(checkpoints.issue_checkpoint_safely)
    return rows


# Columns of journal_entry and their PostgreSQL types, for _insert_entries.
_POSTGRESQL_COLUMNS = (
    ("index", "bigint"),
    ("created_at", "timestamptz"),
    ("action", "text"),
    ("actor_id", "bigint"),
    ("actor_name", "text"),
    ("actor_role", "text"),
    ("object_type", "text"),
    ("object_id", "text"),
    ("object_label", "text"),
    ("consultation_id", "bigint"),
    ("request_id", "text"),
    ("before", "jsonb"),
    ("after", "jsonb"),
    ("leaf_hash", "text"),
)


def _column_values(rows: list[JournalEntry], name: str, kind: str) -> list:
    values = [getattr(row, name) for row in rows]
    if kind == "jsonb":
        # None is SQL NULL, as the ORM stores it for these nullable fields.
        return [None if value is None else json.dumps(value) for value in values]
    if kind == "text":
        # str() turns a JournalAction into its value, not its enum name.
        return [str(value) for value in values]
    return values


def _insert_entries(rows: list[JournalEntry]) -> None:
    """Insert new entries with one statement."""
    if connection.vendor != "postgresql":
        JournalEntry.objects.bulk_create(rows)
        return
    # One array per column, as for the tree nodes in tree.append_leaves.
    quote = connection.ops.quote_name
    names = ", ".join(quote(name) for name, _ in _POSTGRESQL_COLUMNS)
    values = ", ".join(
        f"{quote(name)}::jsonb" if kind == "jsonb" else quote(name)
        for name, kind in _POSTGRESQL_COLUMNS
    )
    arrays = ", ".join(
        "%s::text[]" if kind == "jsonb" else f"%s::{kind}[]"
        for _, kind in _POSTGRESQL_COLUMNS
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {JournalEntry._meta.db_table} ({names}) "
            f"SELECT {values} FROM unnest({arrays}) AS batch({names})",
            [_column_values(rows, name, kind) for name, kind in _POSTGRESQL_COLUMNS],
        )


def _new_entry(
    index: int,
    request_id: str,
    action: JournalAction,
    *,
    actor,
    object_type: str,
    object_id,
    object_label: str = "",
    consultation_id: int | None = None,
    before: dict | None = None,
    after: dict | None = None,
) -> JournalEntry:
    entry = JournalEntry(
        index=index,
        created_at=timezone.now(),
        action=action,
        actor_id=actor.pk if actor else None,
        actor_name=actor.display_name if actor else SYSTEM_ACTOR_NAME,
        actor_role=actor.role if actor else SYSTEM_ACTOR_NAME,
        object_type=object_type,
        object_id=str(object_id),
        object_label=object_label[:300],
        consultation_id=consultation_id,
        request_id=request_id,
        before=before,
        after=after,
    )
    entry.leaf_hash = leaf_hash(canonical_bytes(entry))
    return entry


def record_now(action: JournalAction, **fields) -> JournalEntry:
    """Append one entry in a transaction of its own, for reads and denials."""
    with transaction.atomic():
        return record(action, **fields)


@dataclass(frozen=True)
class VerifyProblem:
    """The first entry whose stored hash or position does not match its content.

    `index` is None for a problem of the tree as a whole, such as a root that
    differs from the signed checkpoint while every entry matches its leaf hash.
    """

    index: int | None
    reason: str


def iter_entries(batch_size: int = 2000) -> Iterator[JournalEntry]:
    """Yield every entry in index order, reading in batches by key."""
    after = -1
    while True:
        batch = list(
            JournalEntry.objects.filter(index__gt=after).order_by("index")[:batch_size]
        )
        if not batch:
            return
        yield from batch
        after = batch[-1].index


# The fields that canonical_bytes() reads, and the stored hash.
ROW_FIELDS = (
    "index",
    "created_at",
    "action",
    "actor_id",
    "actor_name",
    "actor_role",
    "object_type",
    "object_id",
    "object_label",
    "consultation_id",
    "request_id",
    "before",
    "after",
    "leaf_hash",
)


def iter_entry_rows(batch_size: int = 5000) -> Iterator[tuple]:
    """Yield every entry as a named tuple of ROW_FIELDS, in index order.

    For checking the whole journal: a tuple is several times cheaper to build
    than a model instance, and canonical_bytes() and check_entry() read the
    same attribute names from either.
    """
    after = -1
    while True:
        batch = list(
            JournalEntry.objects.filter(index__gt=after)
            .order_by("index")
            .values_list(*ROW_FIELDS, named=True)[:batch_size]
        )
        if not batch:
            return
        yield from batch
        after = batch[-1].index


def verify(entries: Iterator[JournalEntry]) -> VerifyProblem | None:
    """Recompute each leaf hash in order; return the first mismatch or gap."""
    for expected_index, entry in enumerate(entries):
        problem = check_entry(expected_index, entry)
        if problem is not None:
            return problem
    return None


def check_entry(expected_index: int, entry: JournalEntry) -> VerifyProblem | None:
    """Return the problem of one entry read at `expected_index`, or None."""
    if entry.index != expected_index:
        return VerifyProblem(expected_index, "entry is missing")
    if leaf_hash(canonical_bytes(entry)) != entry.leaf_hash:
        return VerifyProblem(entry.index, "leaf hash does not match the content")
    return None
