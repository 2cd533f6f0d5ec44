"""The journal's Merkle tree in the database: stored subtree hashes, roots and proofs.

`append_leaf` stores every perfect subtree as it completes, so a root or a
proof for any size up to the current one reads O(log n) stored nodes in one
query and never rehashes the whole tree.
"""

from django.db import connection
from django.db.models import Max, Q

from protokol.errors import ValidationFailed
from protokol.journal import merkle
from protokol.journal.models import JournalEntry, MerkleNode

# Key of the PostgreSQL advisory lock that serialises appends, so indexes stay
# gapless and in commit order.
APPEND_LOCK_KEY = 0x70726F746F6B6F6C


class TreeCorrupted(Exception):
    """A node that the stored tree must contain is missing."""


def lock_appends() -> None:
    """Wait for the append lock until the transaction ends (PostgreSQL only).

    SQLite needs no lock because its IMMEDIATE transactions already queue
    writers.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [APPEND_LOCK_KEY])


def append_leaf(index: int, leaf_hash: str) -> None:
    """Store leaf `index` and every subtree it completes; run inside record()."""
    size = index + 1
    # Each trailing zero bit of the new size completes one more subtree, whose
    # left half is already stored.
    left_halves = []
    level = 0
    while size % (2 << level) == 0:
        left_halves.append((level, (size >> level) - 2))
        level += 1
    stored = _read_left_halves(left_halves)

    nodes = [MerkleNode(level=0, index=index, hash=leaf_hash)]
    right = bytes.fromhex(leaf_hash)
    for level, left_index in left_halves:
        right = merkle.hash_children(stored[(level, left_index)], right)
        nodes.append(
            MerkleNode(level=level + 1, index=left_index // 2, hash=right.hex())
        )
    MerkleNode.objects.bulk_create(nodes)


def read_nodes(keys) -> dict[merkle.NodeKey, bytes]:
    """Return the stored hashes of the (level, index) nodes in `keys`, in one query."""
    keys = set(keys)
    if not keys:
        return {}
    condition = Q()
    for level, index in keys:
        condition |= Q(level=level, index=index)
    found = {
        (level, index): bytes.fromhex(value)
        for level, index, value in MerkleNode.objects.filter(condition).values_list(
            "level", "index", "hash"
        )
    }
    missing = keys - found.keys()
    if missing:
        raise TreeCorrupted(f"Merkle tree nodes missing: {sorted(missing)}")
    return found


def _read_left_halves(keys: list[merkle.NodeKey]) -> dict[merkle.NodeKey, bytes]:
    # One level per key, so a filter on levels and indexes is cheaper to build
    # than read_nodes' OR of pairs; rows matching a wrong pair are dropped.
    if not keys:
        return {}
    rows = MerkleNode.objects.filter(
        level__lt=len(keys), index__in=[index for _, index in keys]
    ).values_list("level", "index", "hash")
    wanted = set(keys)
    found = {
        (level, index): bytes.fromhex(value)
        for level, index, value in rows
        if (level, index) in wanted
    }
    if len(found) != len(wanted):
        raise TreeCorrupted(
            f"Merkle tree nodes missing: {sorted(wanted - found.keys())}"
        )
    return found


def tree_size() -> int:
    """Return the number of journal entries, which is the current tree size."""
    last = JournalEntry.objects.aggregate(last=Max("index"))["last"]
    return 0 if last is None else last + 1


def _subtree_hashes(ranges: list[merkle.Range]) -> list[bytes]:
    covers = [merkle.perfect_cover(start, end) for start, end in ranges]
    stored = read_nodes(key for cover in covers for key in cover)
    return [merkle.fold_cover([stored[key] for key in cover]) for cover in covers]


def _check_size(size: int, field: str, current: int) -> None:
    if size < 1:
        raise ValidationFailed(f"{field} must be at least 1, got {size}.", field=field)
    if size > current:
        raise ValidationFailed(
            f"{field} {size} is larger than the journal, which has {current} entries.",
            field=field,
        )


def root(size: int) -> bytes:
    """Return the root hash of the tree of the first `size` entries."""
    if size == 0:
        return merkle.EMPTY_ROOT
    _check_size(size, "size", tree_size())
    return _subtree_hashes([(0, size)])[0]


def inclusion_proof(index: int, size: int) -> list[bytes]:
    """Return the audit path of entry `index` in the tree of `size` entries."""
    _check_size(size, "size", tree_size())
    if not 0 <= index < size:
        raise ValidationFailed(
            f"index must be between 0 and size - 1 ({size - 1}), got {index}.",
            field="index",
        )
    return _subtree_hashes(merkle.inclusion_ranges(index, size))


def consistency_proof(old: int, new: int) -> list[bytes]:
    """Return the proof that the tree of `new` entries extends that of `old`."""
    _check_size(new, "new", tree_size())
    if not 1 <= old <= new:
        raise ValidationFailed(
            f"old must be between 1 and new ({new}), got {old}.", field="old"
        )
    return _subtree_hashes(merkle.consistency_ranges(old, new))
