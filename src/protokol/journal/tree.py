"""The journal's Merkle tree in the database: stored subtree hashes, roots and proofs.

`append_leaf` stores every perfect subtree as it completes, so a root or a
proof for any size up to the current one reads O(log n) stored nodes in one
query and never rehashes the whole tree.
"""

from typing import NoReturn

from django.db import connection
from django.db.models import Max

from protokol.errors import ValidationFailed
from protokol.journal import merkle
from protokol.journal.models import JournalEntry, MerkleNode

# Key of the PostgreSQL advisory lock that serialises appends, so indexes stay
# gapless and in commit order.
APPEND_LOCK_KEY = 0x70726F746F6B6F6C
_TABLE = MerkleNode._meta.db_table
# Nodes read per query, so that SQLite's OR of pairs stays well below its
# expression depth limit of 1000.
READ_CHUNK = 200
# "index" is a keyword in SQL.
_INDEX = connection.ops.quote_name("index")
# The largest value of the signed 64-bit index column.
MAX_LEAF_INDEX = 2**63 - 1


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
    append_leaves(index, [leaf_hash])


def append_leaves(first: int, leaf_hashes: list[str]) -> None:
    """Store leaves `first`, `first` + 1, … and every subtree they complete.

    Reads the perfect subtrees of the first `first` leaves in one query, folds
    the new leaves into them in memory and inserts all new nodes in one
    statement (a few on SQLite, which limits the parameters per statement).
    """
    frontier: list[tuple[int, bytes]] = []
    if first:
        cover = merkle.perfect_cover(0, first)
        stored = read_nodes(cover)
        frontier = [(level, stored[(level, index)]) for level, index in cover]
    insert_nodes(new_nodes(first, frontier, leaf_hashes))


def read_frontier() -> tuple[int, list[tuple[int, bytes]]]:
    """Return the journal's entry count and the (level, hash) of its perfect cover.

    The cover lists the perfect subtrees of all entries, largest first, which
    is what new_nodes needs. PostgreSQL reads the count and the nodes in one
    query. Call it under the append lock, in a statement after the lock's.
    """
    if connection.vendor != "postgresql":
        last = JournalEntry.objects.aggregate(last=Max("index"))["last"]
        size = 0 if last is None else last + 1
        if not size:
            return 0, []
        cover = merkle.perfect_cover(0, size)
        stored = read_nodes(cover)
        return size, [(level, stored[(level, index)]) for level, index in cover]

    # Bit `level` of the size is set exactly when the cover has a node on that
    # level, and that node is then the last one stored on it.
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH journal AS (SELECT COALESCE(MAX({_INDEX}) + 1, 0) AS size "
            f"FROM {JournalEntry._meta.db_table}) "
            f"SELECT journal.size, node.level, node.{_INDEX}, node.hash "
            "FROM journal "
            "LEFT JOIN generate_series(0, 62) AS bit(level) "
            "ON (journal.size >> bit.level) & 1 = 1 "
            f"LEFT JOIN {_TABLE} AS node ON node.level = bit.level "
            f"AND node.{_INDEX} = (journal.size >> bit.level) - 1",
        )
        rows = cursor.fetchall()
    size = rows[0][0]
    if not size:
        return 0, []
    stored = {
        (level, index): bytes.fromhex(value)
        for _, level, index, value in rows
        if level is not None
    }
    cover = merkle.perfect_cover(0, size)
    missing = set(cover) - stored.keys()
    if missing:
        raise TreeCorrupted(f"Merkle tree nodes missing: {sorted(missing)}")
    return size, [(level, stored[(level, index)]) for level, index in cover]


def new_nodes(
    first: int, frontier: list[tuple[int, bytes]], leaf_hashes: list[str]
) -> list[tuple[int, int, str]]:
    """Return the (level, index, hex hash) nodes that leaves `first`, … complete.

    `frontier` is the (level, hash) cover of the first `first` leaves,
    largest first, as read_frontier returns it.
    """
    stack = list(frontier)
    nodes: list[tuple[int, int, str]] = []
    for index, leaf_hash in enumerate(leaf_hashes, start=first):
        nodes.append((0, index, leaf_hash))
        level, node = 0, bytes.fromhex(leaf_hash)
        while stack and stack[-1][0] == level:
            node = merkle.hash_children(stack.pop()[1], node)
            level += 1
            nodes.append((level, index >> level, node.hex()))
        stack.append((level, node))
    return nodes


def insert_nodes(nodes: list[tuple[int, int, str]]) -> None:
    """Insert (level, index, hex hash) nodes, in one statement on PostgreSQL."""
    if connection.vendor != "postgresql":
        MerkleNode.objects.bulk_create(
            MerkleNode(level=level, index=index, hash=value)
            for level, index, value in nodes
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(*insert_nodes_statement(nodes))


def insert_nodes_statement(nodes: list[tuple[int, int, str]]) -> tuple[str, list]:
    """Return PostgreSQL's INSERT of the nodes and its parameters."""
    # Three array parameters instead of three per row: the ORM's per-value
    # preparation and the driver's parsing of a long statement cost more
    # than the insert itself.
    levels, indexes, hashes = zip(*nodes, strict=True)
    return (
        f"INSERT INTO {_TABLE} (level, {_INDEX}, hash) "
        "SELECT * FROM unnest(%s::smallint[], %s::bigint[], %s::text[])",
        [list(levels), list(indexes), list(hashes)],
    )


def read_nodes(keys) -> dict[merkle.NodeKey, bytes]:
    """Return the stored hashes of the (level, index) nodes in `keys`.

    A proof's O(log n) nodes take one query. Longer lists are read
    READ_CHUNK keys a query, because SQLite limits the depth of an expression.
    """
    keys = list(set(keys))
    found: dict[merkle.NodeKey, bytes] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(keys), READ_CHUNK):
            cursor.execute(*_nodes_query(keys[start : start + READ_CHUNK]))
            for level, index, value in cursor.fetchall():
                found[(level, index)] = bytes.fromhex(value)
    missing = set(keys) - found.keys()
    if missing:
        raise TreeCorrupted(f"Merkle tree nodes missing: {sorted(missing)}")
    return found


def _nodes_query(keys: list[merkle.NodeKey]) -> tuple[str, list]:
    if connection.vendor == "postgresql":
        # A join with two arrays plans in a fraction of the time of an OR of
        # pairs, and its text is the same for every proof.
        return (
            f"SELECT node.level, node.{_INDEX}, node.hash "
            "FROM unnest(%s::smallint[], %s::bigint[]) AS wanted(level, position) "
            f"JOIN {_TABLE} AS node "
            f"ON node.level = wanted.level AND node.{_INDEX} = wanted.position",
            [[level for level, _ in keys], [index for _, index in keys]],
        )
    condition = " OR ".join([f"(level = %s AND {_INDEX} = %s)"] * len(keys))
    return (
        f"SELECT level, {_INDEX}, hash FROM {_TABLE} WHERE {condition}",
        [number for key in keys for number in key],
    )


def tree_size() -> int:
    """Return the number of stored leaves, which is the number of journal entries.

    Each entry and its leaf node are inserted in one transaction; reading the
    nodes lets a proof be served from this table alone.
    """
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MAX({_INDEX}) FROM {_TABLE} WHERE level = 0")
        (last,) = cursor.fetchone()
    return 0 if last is None else last + 1


def _subtree_hashes(ranges: list[merkle.Range], size: int, field: str) -> list[bytes]:
    """Return the hashes of `ranges` in the tree of `size` leaves, in one query.

    The last leaf of that tree is read with them: it exists exactly when the
    journal has at least `size` entries, so the size needs no query of its own.
    """
    # A larger index would overflow the column's type in the query.
    if size - 1 > MAX_LEAF_INDEX:
        _reject_beyond_journal(size, field)
    covers = [merkle.perfect_cover(start, end) for start, end in ranges]
    try:
        stored = read_nodes([(0, size - 1), *(key for c in covers for key in c)])
    except TreeCorrupted:
        if size > tree_size():
            _reject_beyond_journal(size, field)
        raise
    return [merkle.fold_cover([stored[key] for key in cover]) for cover in covers]


def _reject_beyond_journal(size: int, field: str) -> NoReturn:
    raise ValidationFailed(
        f"{field} {size} is larger than the journal, which has {tree_size()} entries.",
        field=field,
    )


def _check_positive(size: int, field: str) -> None:
    if size < 1:
        raise ValidationFailed(f"{field} must be at least 1, got {size}.", field=field)


def root(size: int) -> bytes:
    """Return the root hash of the tree of the first `size` entries."""
    if size == 0:
        return merkle.EMPTY_ROOT
    _check_positive(size, "size")
    return _subtree_hashes([(0, size)], size, "size")[0]


def inclusion_proof(index: int, size: int) -> list[bytes]:
    """Return the audit path of entry `index` in the tree of `size` entries."""
    _check_positive(size, "size")
    if not 0 <= index < size:
        raise ValidationFailed(
            f"index must be between 0 and size - 1 ({size - 1}), got {index}.",
            field="index",
        )
    return _subtree_hashes(merkle.inclusion_ranges(index, size), size, "size")


def consistency_proof(old: int, new: int) -> list[bytes]:
    """Return the proof that the tree of `new` entries extends that of `old`."""
    _check_positive(new, "new")
    if not 1 <= old <= new:
        raise ValidationFailed(
            f"old must be between 1 and new ({new}), got {old}.", field="old"
        )
    return _subtree_hashes(merkle.consistency_ranges(old, new), new, "new")
