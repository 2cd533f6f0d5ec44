"""`record_many()`: a batch with one lock, one index read and bulk inserts."""

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from protokol.journal import merkle, tree
from protokol.journal.audit import audit, iter_stored_leaves
from protokol.journal.models import JournalAction, JournalEntry, MerkleNode
from protokol.journal.services import (
    iter_entries,
    iter_entry_rows,
    record,
    record_many,
    verify,
)

from .test_services import independent_leaf_hash


def draft(number: int, **fields) -> dict:
    return {
        "action": JournalAction.CONSULTATION_READ,
        "actor": None,
        "object_type": "consultation",
        "object_id": number,
        "object_label": f"КП-2026-{number:06d}",
        "consultation_id": number,
        "after": {"via": "batch", "number": number},
        **fields,
    }


def expected_node_count(size: int) -> int:
    return sum(size >> level for level in range(size.bit_length()))


def test_batch_appends_in_order_after_existing_entries(demo):
    first = JournalEntry.objects.count()
    with transaction.atomic():
        record(**draft(0))
        written = record_many([draft(number) for number in range(1, 38)])

    assert [entry.index for entry in written] == list(range(first + 1, first + 38))
    stored = list(JournalEntry.objects.filter(index__gte=first).order_by("index"))
    assert [entry.object_id for entry in stored] == [str(n) for n in range(38)]
    for entry in stored:
        assert entry.leaf_hash == independent_leaf_hash(entry), entry.index


def test_batch_builds_the_same_tree_as_single_appends(demo):
    with transaction.atomic():
        record_many([draft(number) for number in range(5)])
        for number in range(5, 9):
            record(**draft(number))
        record_many([draft(number) for number in range(9, 70)])

    leaves = [
        bytes.fromhex(value)
        for value in JournalEntry.objects.order_by("index").values_list(
            "leaf_hash", flat=True
        )
    ]
    size = len(leaves)
    assert MerkleNode.objects.count() == expected_node_count(size)
    compact = merkle.CompactRange()
    for number, leaf in enumerate(leaves, start=1):
        compact.append(leaf)
        assert tree.root(number) == compact.root(), number
    assert verify(iter_entries()) is None
    result = audit(iter_entry_rows(batch_size=7), iter_stored_leaves(), None, None)
    assert result.size == size
    assert result.root == compact.root()


def test_batch_proofs_verify(demo):
    with transaction.atomic():
        record_many([draft(number) for number in range(100)])
    size = tree.tree_size()
    root = tree.root(size)

    for index in (0, 1, 50, size - 2, size - 1):
        leaf = bytes.fromhex(JournalEntry.objects.get(index=index).leaf_hash)
        proof = tree.inclusion_proof(index, size)
        assert merkle.verify_inclusion(index, size, leaf, proof, root), index
    for old in (1, 7, 64, size - 1):
        proof = tree.consistency_proof(old, size)
        assert merkle.verify_consistency(old, size, tree.root(old), root, proof)


def test_empty_batch_writes_nothing(demo):
    count = JournalEntry.objects.count()

    with transaction.atomic():
        assert record_many([]) == []

    assert JournalEntry.objects.count() == count


@pytest.mark.parametrize(
    "broken",
    [
        {key: value for key, value in draft(2).items() if key != "object_type"},
        {**draft(2), "colour": "red"},
    ],
    ids=["missing-field", "unknown-field"],
)
def test_bad_draft_writes_nothing(demo, broken):
    count = JournalEntry.objects.count()
    nodes = MerkleNode.objects.count()

    with pytest.raises(TypeError), transaction.atomic():
        record_many([draft(1), broken])

    assert JournalEntry.objects.count() == count
    assert MerkleNode.objects.count() == nodes


def test_batch_crossing_checkpoint_size_schedules_one(
    demo, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(settings.CONFIG, "journal_checkpoint_every", 10)
    start = JournalEntry.objects.count()
    short = 10 - start % 10 - 1

    with django_capture_on_commit_callbacks() as before_boundary, transaction.atomic():
        record_many([draft(number) for number in range(short)])
    with django_capture_on_commit_callbacks() as across, transaction.atomic():
        record_many([draft(number) for number in range(25)])

    assert before_boundary == []
    assert len(across) == 1


def test_batch_stores_values_as_given(demo):
    after = {
        "text": 'О"Брайен \\ \u2028 \U0001f600 \t',
        "nested": [1, None, True, {"b": 2.5, "a": [2**53 - 1]}],
        "empty": {},
    }
    with transaction.atomic():
        written = record_many(
            [draft(1, after=after, before={"status": "new"}), draft(2, after=None)]
        )

    stored = {
        entry.index: entry
        for entry in JournalEntry.objects.filter(
            index__in=[entry.index for entry in written]
        )
    }
    first, second = (stored[entry.index] for entry in written)
    assert first.after == after
    assert first.before == {"status": "new"}
    assert first.action == "consultation:read"
    assert second.after is None
    assert second.before is None
    assert first.leaf_hash == independent_leaf_hash(first)
    assert verify(iter_entries()) is None


def test_read_nodes_beyond_one_query(demo):
    with transaction.atomic():
        record_many([draft(number) for number in range(tree.READ_CHUNK + 50)])
    size = tree.tree_size()

    found = tree.read_nodes((0, index) for index in range(size))

    assert len(found) == size
    assert (
        found[(0, size - 1)].hex() == JournalEntry.objects.get(index=size - 1).leaf_hash
    )


@pytest.mark.parametrize("size", [1, 2, 5, 8, 13])
def test_frontier_is_perfect_cover(db, size):
    with transaction.atomic():
        record_many(draft(number) for number in range(size))

    count, frontier = tree.read_frontier()

    cover = merkle.perfect_cover(0, size)
    stored = tree.read_nodes(cover)
    assert count == size
    assert frontier == [(level, stored[(level, index)]) for level, index in cover]


def test_frontier_of_empty_journal(db):
    assert tree.read_frontier() == (0, [])


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite inserts table by table"
)
def test_single_append_takes_three_statements(demo):
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        record(**draft(1))

    statements = [query["sql"] for query in queries if "SAVEPOINT" not in query["sql"]]
    assert len(statements) == 3
    assert "pg_advisory_xact_lock" in statements[0]
    assert statements[2].startswith("WITH entries AS (INSERT")
