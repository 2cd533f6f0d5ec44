"""Checks after a restore: the journal, the backup's checkpoint, every signature."""

import io

from django.core.management import call_command
from django.core.management.base import CommandError

from protokol.journal import checkpoints, tree
from protokol.signing.reports import signature_reports


def verify_restored(report, checkpoint: dict | None) -> None:
    """Run the journal, checkpoint and signature checks; record them in `report`."""
    _verify_journal(report)
    _verify_checkpoint(report, checkpoint)
    _verify_signatures(report)


def _verify_journal(report) -> None:
    # `protokol journal verify` recomputes every leaf hash and the root, and
    # checks the root against the latest signed checkpoint in the database.
    output = io.StringIO()
    try:
        call_command("journal", "verify", verbosity=0, stdout=output)
    except CommandError as error:
        report.problems.append(f"journal verify failed: {error}")
        return
    report.journal = output.getvalue().strip()


def _verify_checkpoint(report, checkpoint: dict | None) -> None:
    if checkpoint is None:
        report.checkpoint = "The backup contains no checkpoint: none was issued."
        return
    try:
        note = checkpoints.verify_note(checkpoint["note"], checkpoints.verifier_key())
    except (checkpoints.NoteInvalid, checkpoints.SigningKeyMissing) as error:
        report.problems.append(f"the backup's checkpoint does not verify: {error}")
        return

    size = note.size
    if size > tree.tree_size():
        report.problems.append(
            f"the backup's checkpoint covers {size} entries, and the restored "
            f"journal has {tree.tree_size()}"
        )
        return
    root = tree.root(size).hex()
    if root != note.root.hex():
        report.problems.append(
            f"the restored journal's root at size {size} is {root}, and the "
            f"backup's signed checkpoint names {note.root.hex()}"
        )
        return
    report.checkpoint = (
        f"The backup's signed checkpoint verifies: root {root} at size {size}."
    )


def _verify_signatures(report) -> None:
    from protokol.consultations.models import Consultation

    consultations = Consultation.objects.filter(signatures__isnull=False).distinct()
    for consultation in consultations.order_by("pk").iterator():
        for signature in signature_reports(consultation):
            report.signatures_checked += 1
            report.problems += [
                f"consultation {consultation.number}: {problem}"
                for problem in signature.problems
            ]
