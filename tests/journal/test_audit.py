"""`protokol journal verify`: leaf hashes, stored tree and the signed checkpoint."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from journal.conftest import triggers_removed
from protokol.consultations import services
from protokol.journal import checkpoints
from protokol.journal.canonical import canonical_bytes, leaf_hash
from protokol.journal.models import Checkpoint, JournalEntry, MerkleNode


@pytest.fixture
def signed_journal(consultation, demo):
    """A journal of a few entries with a checkpoint over all of them."""
    services.add_message(
        demo["citizen"], consultation.pk, text="Добрый день", visibility="public"
    )
    services.read_consultation(demo["operator"], consultation.pk)
    return checkpoints.issue_checkpoint()


def run_verify() -> str:
    output = StringIO()
    call_command("journal", "verify", verbosity=0, stdout=output)
    return output.getvalue()


def rewrite_entry(index: int, **changes) -> str:
    """Change an entry and give it the matching leaf hash; return the new hash."""
    entry = JournalEntry.objects.get(index=index)
    for name, value in changes.items():
        setattr(entry, name, value)
    new_hash = leaf_hash(canonical_bytes(entry))
    JournalEntry.objects.filter(index=index).update(leaf_hash=new_hash, **changes)
    return new_hash


def test_verify_passes_with_checkpoint(signed_journal):
    output = run_verify()

    assert f"{signed_journal.size} entries" in output
    assert f"signed checkpoint at size {signed_journal.size}" in output


def test_verify_passes_without_checkpoint(consultation):
    assert "no checkpoint issued yet" in run_verify()


def test_verify_names_tampered_leaf(signed_journal):
    target = JournalEntry.objects.get(action="message:create")

    with triggers_removed("journal_entry"):
        JournalEntry.objects.filter(index=target.index).update(actor_role="admin")
        with pytest.raises(CommandError) as caught:
            run_verify()

    assert str(caught.value) == (
        f"Journal entry {target.index}: leaf hash does not match the content."
    )


def test_verify_names_entry_rehashed_after_change(signed_journal):
    target = JournalEntry.objects.get(action="message:create")

    with triggers_removed("journal_entry"):
        rewrite_entry(target.index, actor_role="admin")
        with pytest.raises(CommandError) as caught:
            run_verify()

    assert str(caught.value) == (
        f"Journal entry {target.index}: leaf hash differs from the stored Merkle "
        "tree leaf."
    )


def test_verify_catches_rewritten_entry_and_tree(signed_journal):
    target = JournalEntry.objects.get(action="message:create")

    with triggers_removed("journal_entry", "journal_merkle_node"):
        new_hash = rewrite_entry(target.index, actor_role="admin")
        MerkleNode.objects.filter(level=0, index=target.index).update(hash=new_hash)
        with pytest.raises(CommandError) as caught:
            run_verify()

    assert "does not match the signed checkpoint" in str(caught.value)


def test_verify_catches_forged_checkpoint(signed_journal):
    forged = signed_journal.note.replace(
        f"\n{signed_journal.size}\n", f"\n{signed_journal.size - 1}\n", 1
    )
    Checkpoint.objects.create(
        created_at=signed_journal.created_at,
        size=signed_journal.size - 1,
        root_hash=signed_journal.root_hash,
        origin=signed_journal.origin,
        key_name=signed_journal.key_name,
        note=forged,
    )

    with pytest.raises(CommandError, match="does not verify"):
        run_verify()


def test_verify_catches_truncated_journal(signed_journal):
    last = signed_journal.size - 1

    with triggers_removed("journal_entry", "journal_merkle_node"):
        JournalEntry.objects.filter(index=last).delete()
        MerkleNode.objects.filter(level=0, index=last).delete()
        with pytest.raises(CommandError) as caught:
            run_verify()

    assert str(caught.value).startswith(f"Journal entry {last}: entry is missing")
