"""Checking the whole journal: entries, the stored Merkle tree and the signed head."""

from collections.abc import Iterator
from dataclasses import dataclass

from protokol.journal import merkle, tree
from protokol.journal.checkpoints import NoteInvalid, VerifierKey, verify_note
from protokol.journal.models import Checkpoint, JournalEntry, MerkleNode
from protokol.journal.services import RedactionCheck, VerifyProblem, check_entry


@dataclass(frozen=True)
class AuditResult:
    """Facts checked by a passing audit."""

    size: int
    root: bytes
    # Size of the signed checkpoint whose root matched, or None without one.
    checkpoint_size: int | None


def iter_stored_leaves(batch_size: int = 5000) -> Iterator[tuple[int, str]]:
    """Yield (index, hash) of the stored level-0 Merkle nodes in index order."""
    after = -1
    while True:
        batch = list(
            MerkleNode.objects.filter(level=0, index__gt=after)
            .order_by("index")
            .values_list("index", "hash")[:batch_size]
        )
        if not batch:
            return
        yield from batch
        after = batch[-1][0]


def audit(
    entries: Iterator[JournalEntry],
    stored_leaves: Iterator[tuple[int, str]],
    checkpoint: Checkpoint | None,
    verifier: VerifierKey | None,
) -> VerifyProblem | AuditResult:
    """Recompute every leaf hash and the tree root; compare them with what is stored.

    Checks, in order:

    1. the checkpoint's signature by `verifier`;
    2. each entry's leaf hash against its content and against the stored
       tree leaf, and its payload hash against a stored payload;
    3. that a `journal:redact` entry names every missing payload;
    4. the root of the first checkpoint.size entries against the signed root;
    5. the root computed from the stored nodes against the recomputed one.

    Returns the first problem found, or an AuditResult.
    """
    signed = None
    if checkpoint is not None:
        try:
            signed = verify_note(checkpoint.note, verifier)
        except NoteInvalid as error:
            return VerifyProblem(None, f"checkpoint {checkpoint.pk}: {error}")

    compact = merkle.CompactRange()
    signed_root_checked = False
    if signed is not None and signed.size == 0:
        if signed.root != merkle.EMPTY_ROOT:
            return VerifyProblem(None, "signed root of the empty tree is wrong")
        signed_root_checked = True
    redactions = RedactionCheck()
    for expected_index, entry in enumerate(entries):
        problem = check_entry(expected_index, entry)
        if problem is not None:
            return problem
        redactions.add(entry)
        stored = next(stored_leaves, None)
        if stored != (entry.index, entry.leaf_hash):
            return VerifyProblem(
                entry.index, "leaf hash differs from the stored Merkle tree leaf"
            )

        compact.append(bytes.fromhex(entry.leaf_hash))
        if signed is not None and compact.size == signed.size:
            if compact.root() != signed.root:
                return VerifyProblem(
                    None,
                    f"root of the first {signed.size} entries does not match "
                    "the signed checkpoint",
                )
            signed_root_checked = True

    problem = redactions.problem()
    if problem is not None:
        return problem
    if signed is not None and not signed_root_checked:
        return VerifyProblem(
            compact.size,
            f"entry is missing: the signed checkpoint covers {signed.size} entries",
        )
    if next(stored_leaves, None) is not None:
        return VerifyProblem(compact.size, "stored Merkle tree leaf has no entry")

    root = compact.root()
    if compact.size and tree.root(compact.size) != root:
        return VerifyProblem(
            None, "stored Merkle tree nodes do not match the entries' leaf hashes"
        )
    return AuditResult(
        size=compact.size,
        root=root,
        checkpoint_size=signed.size if signed is not None else None,
    )
