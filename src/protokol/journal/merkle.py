"""RFC 6962 / RFC 9162 Merkle tree arithmetic: hashing, proof layout, verification.

Nothing here touches the database. A subtree is written as the half-open range
of leaf positions [start, end) it covers. A perfect subtree of 2**level leaves
is also named (level, index), where index = start >> level.
"""

import hashlib

NODE_PREFIX = b"\x01"
HASH_SIZE = 32
# MTH({}) of RFC 6962 section 2.1: the hash of the empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()

Range = tuple[int, int]
NodeKey = tuple[int, int]


def hash_children(left: bytes, right: bytes) -> bytes:
    """Return the interior node hash SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(count: int) -> int:
    """Return k, the largest power of two smaller than `count` (count > 1)."""
    if count < 2:
        raise ValueError(f"a subtree of {count} leaves has no split point")
    return 1 << ((count - 1).bit_length() - 1)


def perfect_cover(start: int, end: int) -> list[NodeKey]:
    """Return the perfect subtrees that make up [start, end), left to right.

    The range must be a subtree of an RFC 6962 tree, so its start is aligned
    to every power of two that fits in it. The subtree's hash is then the
    right fold of these nodes (see `fold_cover`).
    """
    if not 0 <= start < end:
        raise ValueError(f"empty or negative leaf range [{start}, {end})")
    nodes = []
    position = start
    while position < end:
        width = 1 << ((end - position).bit_length() - 1)
        if position % width:
            raise ValueError(f"[{start}, {end}) is not a subtree of an RFC 6962 tree")
        level = width.bit_length() - 1
        nodes.append((level, position >> level))
        position += width
    return nodes


def fold_cover(hashes: list[bytes]) -> bytes:
    """Combine the hashes of a `perfect_cover`, left to right, into one subtree hash."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = hash_children(left, result)
    return result


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """Return the subtrees whose hashes form PATH(index, D[0:size]), in proof order.

    This is the recursion of RFC 9162 section 2.1.3.1: the deepest sibling first.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    ranges: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        middle = start + split_point(end - start)
        if index < middle:
            ranges.append((middle, end))
            end = middle
        else:
            ranges.append((start, middle))
            start = middle
    ranges.reverse()
    return ranges


def consistency_ranges(old: int, new: int) -> list[Range]:
    """Return the subtrees whose hashes form PROOF(old, D[0:new]), in proof order.

    This is SUBPROOF of RFC 9162 section 2.1.4.1; the proof is empty when
    old is 0 or old equals new.
    """
    if not 0 <= old <= new:
        raise ValueError(f"no consistency proof from size {old} to size {new}")
    if old in (0, new):
        return []
    ranges: list[Range] = []
    start, end = 0, new
    # SUBPROOF's flag b: true while the old tree is a left part of this subtree.
    old_is_left_edge = True
    while old != end:
        middle = start + split_point(end - start)
        if old <= middle:
            ranges.append((middle, end))
            end = middle
        else:
            ranges.append((start, middle))
            start = middle
            old_is_left_edge = False
    if not old_is_left_edge:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: list[bytes], root: bytes
) -> bool:
    """Check an inclusion proof by the algorithm of RFC 9162 section 2.1.3.2.

    Args:
        index: position of the leaf, from 0.
        size: tree size the proof and the root belong to.
        leaf_hash: SHA-256(0x00 || entry), 32 bytes.
        proof: the audit path, deepest sibling first.
        root: the expected root hash of the tree of `size` leaves.

    Returns:
        True only if the path leads from the leaf to `root` exactly.
    """
    if not 0 <= index < size:
        return False
    if any(len(node) != HASH_SIZE for node in proof):
        return False

    position, last = index, size - 1
    result = leaf_hash
    for sibling in proof:
        if last == 0:
            return False
        if position % 2 == 1 or position == last:
            result = hash_children(sibling, result)
            # Skip the levels where this subtree has no right sibling.
            while position % 2 == 0 and position != 0:
                position >>= 1
                last >>= 1
        else:
            result = hash_children(result, sibling)
        position >>= 1
        last >>= 1
    return last == 0 and result == root


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> bool:
    """Check a consistency proof by the algorithm of RFC 9162 section 2.1.4.2.

    Args:
        old: size of the earlier tree.
        new: size of the later tree, at least `old`.
        old_root: root hash of the earlier tree.
        new_root: root hash of the later tree.
        proof: the hashes of PROOF(old, D[0:new]).

    Returns:
        True only if the later tree extends the earlier one. Size 0 is
        consistent with everything, and equal sizes need equal roots, both
        with an empty proof.
    """
    if not 0 <= old <= new:
        return False
    if any(len(node) != HASH_SIZE for node in proof):
        return False
    if old == 0:
        return not proof
    if old == new:
        return not proof and old_root == new_root
    if not proof:
        return False

    # When the old tree is a perfect subtree, the proof omits its root.
    if old & (old - 1) == 0:
        proof = [old_root, *proof]
    position, last = old - 1, new - 1
    while position % 2 == 1:
        position >>= 1
        last >>= 1

    old_result = new_result = proof[0]
    for node in proof[1:]:
        if last == 0:
            return False
        if position % 2 == 1 or position == last:
            old_result = hash_children(node, old_result)
            new_result = hash_children(node, new_result)
            while position % 2 == 0 and position != 0:
                position >>= 1
                last >>= 1
        else:
            new_result = hash_children(new_result, node)
        position >>= 1
        last >>= 1
    return last == 0 and old_result == old_root and new_result == new_root


class CompactRange:
    """The perfect subtrees of a growing tree, for its root in one pass over leaves."""

    def __init__(self) -> None:
        self.size = 0
        # (level, hash) of each perfect subtree, largest first.
        self._stack: list[tuple[int, bytes]] = []

    def append(self, leaf_hash: bytes) -> None:
        level, node = 0, leaf_hash
        while self._stack and self._stack[-1][0] == level:
            _, left = self._stack.pop()
            node = hash_children(left, node)
            level += 1
        self._stack.append((level, node))
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        return fold_cover([node for _, node in self._stack])
