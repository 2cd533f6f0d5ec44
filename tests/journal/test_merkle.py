"""The Merkle tree against the RFC 6962 vectors and a verifier written apart."""

import hashlib
import json
import random
from pathlib import Path

import pytest

from journal.conftest import append_raw_leaves, numbered_leaf_hashes
from protokol.errors import ValidationFailed
from protokol.journal import merkle, tree

VECTORS = json.loads((Path(__file__).parent / "data/rfc6962_vectors.json").read_text())
LEAVES = [
    hashlib.sha256(b"\x00" + bytes.fromhex(data)).digest() for data in VECTORS["leaves"]
]
ROOTS = [bytes.fromhex(root) for root in VECTORS["roots"]]


def unhex(hashes: list[str]) -> list[bytes]:
    return [bytes.fromhex(node) for node in hashes]


# -- a second verifier, written from the recursive definitions of RFC 6962
# section 2.1 (MTH, PATH, SUBPROOF) rather than the bit arithmetic of RFC 9162


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(count: int) -> int:
    k = 1
    while k * 2 < count:
        k *= 2
    return k


def reference_root(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return node(reference_root(leaves[:k]), reference_root(leaves[k:]))


def root_from_path(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    """Rebuild MTH(D[size]) from PATH(index, D[size]); the last element is the top."""
    if size == 1:
        if proof:
            raise ValueError("proof is longer than the path")
        return leaf
    if not proof:
        raise ValueError("proof is shorter than the path")
    k = split(size)
    *rest, sibling = proof
    if index < k:
        return node(root_from_path(index, k, leaf, rest), sibling)
    return node(sibling, root_from_path(index - k, size - k, leaf, rest))


def independent_inclusion_ok(index, size, leaf, proof, root) -> bool:
    if not 0 <= index < size:
        return False
    try:
        return root_from_path(index, size, leaf, proof) == root
    except ValueError:
        return False


def roots_from_subproof(old, new, proof, complete, old_root):
    """Rebuild (old subtree hash, new subtree hash) from SUBPROOF(old, D[new], b)."""
    if old == new:
        if complete:
            if proof:
                raise ValueError("proof is longer than the subproof")
            return old_root, old_root
        if len(proof) != 1:
            raise ValueError("subproof does not end in one subtree hash")
        return proof[0], proof[0]
    if not proof:
        raise ValueError("proof is shorter than the subproof")
    k = split(new)
    *rest, sibling = proof
    if old <= k:
        old_part, new_part = roots_from_subproof(old, k, rest, complete, old_root)
        return old_part, node(new_part, sibling)
    old_part, new_part = roots_from_subproof(old - k, new - k, rest, False, old_root)
    return node(sibling, old_part), node(sibling, new_part)


def independent_consistency_ok(old, new, proof, old_root, new_root) -> bool:
    if not 0 < old < new:
        return old == new and not proof and old_root == new_root
    try:
        rebuilt = roots_from_subproof(old, new, proof, True, old_root)
    except ValueError:
        return False
    return rebuilt == (old_root, new_root)


# -- pure functions against the vectors


def test_vector_roots_match_reference_root():
    for size in range(1, len(LEAVES) + 1):
        assert reference_root(LEAVES[:size]) == ROOTS[size - 1], size


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=str)
def test_vector_inclusion_verifies(case):
    index, size, proof = case["index"], case["size"], unhex(case["proof"])

    assert merkle.verify_inclusion(index, size, LEAVES[index], proof, ROOTS[size - 1])
    assert independent_inclusion_ok(index, size, LEAVES[index], proof, ROOTS[size - 1])


@pytest.mark.parametrize("case", VECTORS["consistency"], ids=str)
def test_vector_consistency_verifies(case):
    old, new, proof = case["old"], case["new"], unhex(case["proof"])

    assert merkle.verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], proof)
    assert independent_consistency_ok(old, new, proof, ROOTS[old - 1], ROOTS[new - 1])


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=str)
def test_vector_inclusion_corruptions_rejected(case):
    index, size, proof = case["index"], case["size"], unhex(case["proof"])
    root, leaf = ROOTS[size - 1], LEAVES[index]
    probes = {
        "index - 1": (index - 1, size, leaf, proof, root),
        "index + 1": (index + 1, size, leaf, proof, root),
        "index ^ 2": (index ^ 2, size, leaf, proof, root),
        "size * 2": (index, size * 2, leaf, proof, root),
        "size // 2": (index, size // 2, leaf, proof, root),
        "wrong leaf": (index, size, b"WrongLeaf", proof, root),
        "empty root": (index, size, leaf, proof, merkle.EMPTY_ROOT),
        "trailing root": (index, size, leaf, [*proof, root], root),
        "preceding root": (index, size, leaf, [root, *proof], root),
    }
    for position in range(len(proof)):
        flipped = bytearray(proof[position])
        flipped[0] ^= 8
        wrong = [*proof[:position], bytes(flipped), *proof[position + 1 :]]
        probes[f"bit flip {position}"] = (index, size, leaf, wrong, root)
    if proof:
        probes["removed last"] = (index, size, leaf, proof[:-1], root)

    for name, probe in probes.items():
        assert not merkle.verify_inclusion(*probe), name


@pytest.mark.parametrize(
    "case", [c for c in VECTORS["consistency"] if c["proof"]], ids=str
)
def test_vector_consistency_corruptions_rejected(case):
    old, new, proof = case["old"], case["new"], unhex(case["proof"])
    old_root, new_root = ROOTS[old - 1], ROOTS[new - 1]
    probes = {
        "old - 1": (old - 1, new, old_root, new_root, proof),
        "old + 1": (old + 1, new, old_root, new_root, proof),
        "old ^ 2": (old ^ 2, new, old_root, new_root, proof),
        "new * 2": (old, new * 2, old_root, new_root, proof),
        "new // 2": (old, new // 2, old_root, new_root, proof),
        "wrong old root": (old, new, b"WrongRoot", new_root, proof),
        "wrong new root": (old, new, old_root, b"WrongRoot", proof),
        "swapped roots": (old, new, new_root, old_root, proof),
        "empty proof": (old, new, old_root, new_root, []),
        "trailing new root": (old, new, old_root, new_root, [*proof, new_root]),
        "preceding old root": (old, new, old_root, new_root, [old_root, *proof]),
        "truncated": (old, new, old_root, new_root, proof[:-1]),
    }
    for position in range(len(proof)):
        flipped = bytearray(proof[position])
        flipped[0] ^= 16
        wrong = [*proof[:position], bytes(flipped), *proof[position + 1 :]]
        probes[f"bit flip {position}"] = (old, new, old_root, new_root, wrong)

    for name, probe in probes.items():
        assert not merkle.verify_consistency(*probe), name


def test_verify_consistency_edge_sizes():
    some = ROOTS[0]

    assert merkle.verify_consistency(0, 5, some, ROOTS[4], [])
    assert not merkle.verify_consistency(0, 5, some, ROOTS[4], [some])
    assert merkle.verify_consistency(3, 3, ROOTS[2], ROOTS[2], [])
    assert not merkle.verify_consistency(3, 3, ROOTS[2], ROOTS[3], [])
    assert not merkle.verify_consistency(4, 3, ROOTS[3], ROOTS[2], [])


def test_compact_range_matches_vector_roots():
    compact = merkle.CompactRange()
    assert compact.root() == merkle.EMPTY_ROOT

    for size, leaf in enumerate(LEAVES, start=1):
        compact.append(leaf)
        assert compact.root() == ROOTS[size - 1], size


# -- the stored tree against the vectors


def test_stored_tree_matches_vectors(db):
    append_raw_leaves(LEAVES)

    for size in range(1, len(LEAVES) + 1):
        assert tree.root(size) == ROOTS[size - 1], size
    for case in VECTORS["inclusion"]:
        proof = tree.inclusion_proof(case["index"], case["size"])
        assert proof == unhex(case["proof"]), case
    for case in VECTORS["consistency"]:
        if case["old"] == case["new"]:
            continue
        proof = tree.consistency_proof(case["old"], case["new"])
        assert proof == unhex(case["proof"]), case


def test_stored_tree_empty_root(db):
    assert tree.root(0) == hashlib.sha256(b"").digest()


def test_every_proof_verifies_independently(db):
    leaves = numbered_leaf_hashes(300)
    append_raw_leaves(leaves)
    sizes = [1, 2, 3, 64, 65, 127, 300, *random.Random(6962).sample(range(4, 300), 5)]

    for size in sizes:
        root = tree.root(size)
        assert root == reference_root(leaves[:size]), size
        for index in range(size):
            proof = tree.inclusion_proof(index, size)
            assert independent_inclusion_ok(index, size, leaves[index], proof, root), (
                index,
                size,
            )
            assert merkle.verify_inclusion(index, size, leaves[index], proof, root)
        for old in range(1, size + 1):
            proof = tree.consistency_proof(old, size)
            old_root = reference_root(leaves[:old])
            assert independent_consistency_ok(old, size, proof, old_root, root), (
                old,
                size,
            )
            assert merkle.verify_consistency(old, size, old_root, root, proof)


def test_proof_reads_logarithmic_nodes(db, django_assert_max_num_queries):
    append_raw_leaves(numbered_leaf_hashes(300))

    # One query for the tree size, one for all the nodes a proof needs.
    with django_assert_max_num_queries(2):
        proof = tree.inclusion_proof(200, 299)
    assert len(proof) == 9
    with django_assert_max_num_queries(2):
        tree.consistency_proof(77, 299)


def test_append_stores_about_two_nodes_per_leaf(db):
    from protokol.journal.models import MerkleNode

    append_raw_leaves(numbered_leaf_hashes(256))

    # 256 leaves + 128 + 64 + … + 1 perfect subtrees above them.
    assert MerkleNode.objects.count() == 511
    assert MerkleNode.objects.get(level=8, index=0).hash == tree.root(256).hex()


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: tree.inclusion_proof(5, 5), "index"),
        (lambda: tree.inclusion_proof(-1, 5), "index"),
        (lambda: tree.inclusion_proof(0, 9), "size"),
        (lambda: tree.inclusion_proof(0, 0), "size"),
        (lambda: tree.consistency_proof(6, 5), "old"),
        (lambda: tree.consistency_proof(0, 5), "old"),
        (lambda: tree.consistency_proof(2, 9), "new"),
        (lambda: tree.root(9), "size"),
    ],
)
def test_invalid_proof_arguments_rejected(db, call, field):
    append_raw_leaves(numbered_leaf_hashes(8))

    with pytest.raises(ValidationFailed) as caught:
        call()

    assert caught.value.field == field
