"""Appending to the journal and checking it; the only code that writes entries."""

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from protokol.journal import checkpoints, tree
from protokol.journal.canonical import (
    FORMAT_HEADER,
    canonical_bytes,
    header_part,
    leaf_hash,
    merge_payload,
    new_salt,
    payload_body,
    payload_hash,
)
from protokol.journal.models import JournalAction, JournalEntry, JournalPayload
from protokol.journal.signals import entry_recorded
from protokol.logging import current_request_id

log = structlog.get_logger(__name__)

SYSTEM_ACTOR_NAME = "system"
# Every action that an entry may record.
ACTIONS = frozenset(JournalAction.values)
# Indexes named by one journal:redact entry, so that the payload delete
# trigger, which searches the list of the latest entry for each row, stays
# cheap.
REDACT_BATCH = 500


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
    append lock and reads the last index with the Merkle nodes it extends.
    PostgreSQL then inserts the entries, payloads and new nodes in one
    statement. SQLite uses one insert per table and per few dozen rows, as it
    limits the parameters per statement.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("journal entries are written inside a transaction")
    drafts = list(entries)
    if not drafts:
        return []
    tree.lock_appends()

    first, frontier = tree.read_frontier()
    request_id = current_request_id()
    rows = [
        _new_entry(index, request_id, **draft)
        for index, draft in enumerate(drafts, start=first)
    ]
    nodes = tree.new_nodes(first, frontier, [row.leaf_hash for row in rows])
    if connection.vendor == "postgresql":
        _insert_all(rows, nodes)
    else:
        _insert_entries(rows)
        _insert_payloads(rows)
        tree.insert_nodes(nodes)

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
    ("format", "smallint"),
    ("payload_hash", "text"),
)


def _column_values(rows: list[JournalEntry], name: str, kind: str) -> list:
    if name in _HEADER_STORED:
        values = [_HEADER_STORED[name](row) for row in rows]
    else:
        values = [getattr(row, name) for row in rows]
    if kind == "jsonb":
        # None is SQL NULL, as the ORM stores it for these nullable fields.
        return [None if value is None else json.dumps(value) for value in values]
    if kind == "text":
        # str() turns a JournalAction into its value, not its enum name.
        return [str(value) for value in values]
    return values


# The header column values journal_entry stores for the fields whose content
# is in the payload.
_HEADER_STORED = {
    "actor_name": lambda row: "",
    "object_label": lambda row: "",
    "before": lambda row: header_part(row.action, row.before),
    "after": lambda row: header_part(row.action, row.after),
}


def _insert_entries(rows: list[JournalEntry]) -> None:
    """Insert new entries with one statement, their personal data left out.

    The returned instances keep the whole content in memory, as the callers
    and the entry_recorded receivers read it.
    """
    if connection.vendor != "postgresql":
        whole = [{name: getattr(row, name) for name in _HEADER_STORED} for row in rows]
        for row in rows:
            # Each function reads only its own field, which is still whole.
            for name, keep in _HEADER_STORED.items():
                setattr(row, name, keep(row))
        try:
            JournalEntry.objects.bulk_create(rows)
        finally:
            for row, fields in zip(rows, whole, strict=True):
                for name, value in fields.items():
                    setattr(row, name, value)
        return
    with connection.cursor() as cursor:
        cursor.execute(*_entries_statement(rows))


def _entries_statement(rows: list[JournalEntry]) -> tuple[str, list]:
    """Return PostgreSQL's INSERT of the entries' headers and its parameters."""
    # One array per column, as for the tree nodes in tree.insert_nodes.
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
    return (
        f"INSERT INTO {JournalEntry._meta.db_table} ({names}) "
        f"SELECT {values} FROM unnest({arrays}) AS batch({names})",
        [_column_values(rows, name, kind) for name, kind in _POSTGRESQL_COLUMNS],
    )


def _insert_payloads(rows: list[JournalEntry]) -> None:
    """Insert the payload rows of new entries with one statement."""
    if connection.vendor != "postgresql":
        JournalPayload.objects.bulk_create(
            [
                JournalPayload(entry_id=row.index, salt=row._salt, body=row._body)
                for row in rows
            ]
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(*_payloads_statement(rows))


def _payloads_statement(rows: list[JournalEntry]) -> tuple[str, list]:
    """Return PostgreSQL's INSERT of the entries' payloads and its parameters."""
    return (
        f"INSERT INTO {JournalPayload._meta.db_table} "
        '("index", salt, body) '
        "SELECT i, s, b::jsonb FROM unnest(%s::bigint[], %s::bytea[], %s::text[]) "
        "AS batch(i, s, b)",
        [
            [row.index for row in rows],
            [row._salt for row in rows],
            [json.dumps(row._body) for row in rows],
        ],
    )


def _insert_all(rows: list[JournalEntry], nodes: list[tuple[int, int, str]]) -> None:
    """Insert entries, payloads and Merkle nodes in one PostgreSQL statement.

    Each insert is a data-modifying WITH query of the statement, so one round
    trip does the work of three. The payload's foreign key to its entry is
    checked at commit, as Django creates it DEFERRABLE INITIALLY DEFERRED.
    """
    entries_sql, entries_params = _entries_statement(rows)
    payloads_sql, payloads_params = _payloads_statement(rows)
    nodes_sql, nodes_params = tree.insert_nodes_statement(nodes)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH entries AS ({entries_sql}), payloads AS ({payloads_sql}) "
            f"{nodes_sql}",
            [*entries_params, *payloads_params, *nodes_params],
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
    if action not in ACTIONS:
        raise ValueError(f"journal action {action!r} is not a JournalAction member")
    entry = JournalEntry(
        index=index,
        created_at=timezone.now(),
        action=action,
        actor_id=actor.pk if actor else None,
        actor_name=actor.display_name if actor else SYSTEM_ACTOR_NAME,
        actor_role=actor.role if actor else SYSTEM_ACTOR_NAME,
        object_type=object_type,
        # The columns' lengths: an id or label taken from a request, such as
        # a 100-digit id in a denied URL, would not fit on PostgreSQL.
        object_id=str(object_id)[:64],
        object_label=object_label[:300],
        consultation_id=consultation_id,
        request_id=request_id,
        before=before,
        after=after,
        format=FORMAT_HEADER,
    )
    # Kept on the instance until _insert_payloads stores them.
    entry._salt = new_salt()
    entry._body = payload_body(entry)
    entry.payload_hash = payload_hash(entry._salt, entry._body)
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


def redact(
    indexes: Iterable[int],
    *,
    actor=None,
    grounds: str,
    consultation_id: int | None = None,
    details: dict | None = None,
) -> list[int]:
    """Delete the payloads of the entries at `indexes`, each named by a redact entry.

    Runs inside the caller's transaction. Entries without a stored payload
    (format 1, or already redacted) are skipped. For each REDACT_BATCH of
    indexes, appends a `journal:redact` entry and then deletes those payload
    rows, because the delete trigger allows a row only while the latest entry
    names it. The entry's `after` contains the `indexes`, the `grounds` (such
    as "retention:delete") and the `details` (the policy or the request).
    Returns the redacted indexes.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("journal payloads are redacted inside a transaction")
    tree.lock_appends()
    requested = sorted(set(indexes))
    stored = []
    for start in range(0, len(requested), REDACT_BATCH):
        stored += JournalPayload.objects.filter(
            entry_id__in=requested[start : start + REDACT_BATCH]
        ).values_list("entry_id", flat=True)
    stored.sort()

    for start in range(0, len(stored), REDACT_BATCH):
        batch = stored[start : start + REDACT_BATCH]
        record(
            JournalAction.JOURNAL_REDACT,
            actor=actor,
            object_type="journal_entry",
            object_id=batch[0] if len(batch) == 1 else f"{batch[0]}-{batch[-1]}",
            consultation_id=consultation_id,
            after={"indexes": batch, "grounds": grounds, **(details or {})},
        )
        JournalPayload.objects.filter(entry_id__in=batch).delete()
    log.info(
        "journal_redacted",
        grounds=grounds,
        consultation_id=consultation_id,
        entries=len(stored),
    )
    return stored


def with_payloads(entries: list[JournalEntry]) -> list[JournalEntry]:
    """Put the stored payloads back into format 2 entries read from the table.

    A redacted entry shows canonical.REDACTED as actor name and object label.
    Returns `entries`, changed in place.
    """
    indexes = [entry.index for entry in entries if entry.format == FORMAT_HEADER]
    bodies = dict(
        JournalPayload.objects.filter(entry_id__in=indexes).values_list(
            "entry_id", "body"
        )
    )
    for entry in entries:
        if entry.format == FORMAT_HEADER:
            merge_payload(entry, bodies.get(entry.index))
    return entries


def iter_with_payloads(entries, chunk_size: int = 2000) -> Iterator[JournalEntry]:
    """Yield the entries of a queryset with their payloads, chunk by chunk."""
    chunk = []
    for entry in entries.iterator(chunk_size=chunk_size):
        chunk.append(entry)
        if len(chunk) == chunk_size:
            yield from with_payloads(chunk)
            chunk = []
    yield from with_payloads(chunk)


def iter_entries(batch_size: int = 2000) -> Iterator[JournalEntry]:
    """Yield every entry in index order, reading in batches by key."""
    after = -1
    while True:
        batch = list(
            JournalEntry.objects.filter(index__gt=after)
            .select_related("payload")
            .order_by("index")[:batch_size]
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
    "format",
    "payload_hash",
    "payload__salt",
    "payload__body",
)


def iter_entry_rows(batch_size: int = 5000) -> Iterator[tuple]:
    """Yield every entry as a named tuple of ROW_FIELDS, in index order.

    For checking the whole journal: a tuple is several times cheaper to build
    than a model instance, and canonical_bytes() and check_entry() read the
    same attribute names from either. `payload__salt` and `payload__body`
    are None for format 1 entries and for redacted payloads.
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


@dataclass
class RedactionCheck:
    """Collects the format 2 entries without a payload and the redact entries.

    A missing payload is valid only when a later `journal:redact` entry
    names its index; `problem()` reports it after the last entry.
    """

    missing: set[int] = field(default_factory=set)
    redacted: set[int] = field(default_factory=set)

    def add(self, entry) -> None:
        if entry.format == FORMAT_HEADER and _stored_payload(entry) is None:
            self.missing.add(entry.index)
        if entry.action == JournalAction.JOURNAL_REDACT:
            named = (entry.after or {}).get("indexes") or []
            self.redacted.update(
                index for index in named if type(index) is int and index < entry.index
            )

    def problem(self) -> VerifyProblem | None:
        unnamed = self.missing - self.redacted
        if not unnamed:
            return None
        return VerifyProblem(
            min(unnamed), "payload is missing and no journal:redact entry names it"
        )


def _stored_payload(entry) -> tuple[bytes, dict] | None:
    """Return (salt, body) of a row of iter_entry_rows() or an entry, or None."""
    if isinstance(entry, JournalEntry):
        try:
            payload = entry.payload
        except JournalPayload.DoesNotExist:
            return None
        return payload.salt, payload.body
    if entry.payload__salt is None:
        return None
    return entry.payload__salt, entry.payload__body


def verify(entries: Iterator) -> VerifyProblem | None:
    """Recompute each leaf and payload hash in order; return the first problem.

    `entries` are rows of iter_entry_rows() or entries of iter_entries().
    """
    redactions = RedactionCheck()
    for expected_index, entry in enumerate(entries):
        problem = check_entry(expected_index, entry)
        if problem is not None:
            return problem
        redactions.add(entry)
    return redactions.problem()


def check_entry(expected_index: int, entry) -> VerifyProblem | None:
    """Return the problem of one entry row read at `expected_index`, or None.

    Checks the leaf hash. For a format 2 entry, also checks that the header
    columns contain no payload member, and the payload hash of a stored
    payload.
    """
    if entry.index != expected_index:
        return VerifyProblem(expected_index, "entry is missing")
    if leaf_hash(canonical_bytes(entry)) != entry.leaf_hash:
        return VerifyProblem(entry.index, "leaf hash does not match the content")
    if entry.format != FORMAT_HEADER:
        return None
    if (
        entry.actor_name
        or entry.object_label
        or header_part(entry.action, entry.before) != entry.before
        or header_part(entry.action, entry.after) != entry.after
    ):
        # The leaf hash does not cover these, so text here would pass as
        # the entry's own.
        return VerifyProblem(
            entry.index, "payload member stored in the header, outside the leaf hash"
        )
    payload = _stored_payload(entry)
    if payload is not None and payload_hash(*payload) != entry.payload_hash:
        return VerifyProblem(
            entry.index, "payload hash does not match the stored payload"
        )
    return None
