"""Comparing a copy's or bundle's journal checkpoint with the live journal.

Offline, a valid inclusion proof shows only that the signing entry is in
some tree that the journal key signed. `protokol verify --online` also
checks that this tree is a prefix of the journal in the configured database,
by an RFC 9162 consistency proof from the stored Merkle tree. A checkpoint
that fails it belongs to a history that the live journal does not extend:
either the journal was rewritten after the copy was issued, or the
checkpoint was signed over a forged tree.
"""

from pathlib import Path

from django.db import DatabaseError
from django.utils.translation import gettext

from protokol.journal import merkle
from protokol.journal.checkpoints import NoteInvalid, parse_verifier_key, verify_note
from protokol.journal.tlog import parse_tlog_proof

CHECK_NAME = "journal-online"


def journal_consistency_check(files: dict[str, bytes], key_text: str | None):
    """Return the check that the proof's checkpoint is a prefix of the live journal.

    Args:
        files: bundle files by name; the checkpoint is the note in proof.txt.
        key_text: the checkpoint verifier key, or a file containing it; None
            uses the installation's key, not the one in the copy.
    """
    from protokol.journal import checkpoints, tree
    from protokol.signing.management.commands.verify import Check

    proof_text = files.get("proof.txt")
    if proof_text is None:
        return Check(CHECK_NAME, False, gettext("no journal proof to compare"))
    try:
        if key_text is None:
            verifier = checkpoints.verifier_key()
        elif Path(key_text).is_file():
            verifier = parse_verifier_key(Path(key_text).read_text())
        else:
            verifier = parse_verifier_key(key_text)
        _, _, note = parse_tlog_proof(proof_text.decode())
        checkpoint = verify_note(note, verifier)
    except (NoteInvalid, ValueError, checkpoints.SigningKeyMissing) as error:
        return Check(CHECK_NAME, False, str(error))

    try:
        live_size = tree.tree_size()
        if checkpoint.size > live_size:
            message = gettext(
                "the checkpoint has size %(size)d, but the live journal has only "
                "%(live)d entries"
            ) % {"size": checkpoint.size, "live": live_size}
            return Check(CHECK_NAME, False, message)
        live_root = tree.root(live_size)
        proof = []
        if 0 < checkpoint.size < live_size:
            proof = tree.consistency_proof(checkpoint.size, live_size)
    except DatabaseError as error:
        message = gettext("the live journal cannot be read: %(error)s") % {
            "error": error
        }
        return Check(CHECK_NAME, False, message)

    facts = {
        "size": checkpoint.size,
        "root": checkpoint.root.hex(),
        "live": live_size,
        "live_root": live_root.hex(),
    }
    consistent = merkle.verify_consistency(
        checkpoint.size, live_size, checkpoint.root, live_root, proof
    )
    if not consistent:
        message = gettext(
            "the checkpoint (size %(size)d, root %(root)s) is not a prefix of the "
            "live journal (size %(live)d, root %(live_root)s): the journal was "
            "rewritten after the copy was issued, or the checkpoint was signed "
            "over a forged tree"
        )
        return Check(CHECK_NAME, False, message % facts)
    message = gettext(
        "the checkpoint (size %(size)d) is a prefix of the live journal "
        "(size %(live)d, root %(live_root)s)"
    )
    return Check(CHECK_NAME, True, message % facts)
