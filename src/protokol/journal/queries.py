"""Reading the journal, itself a journaled read."""

from protokol.consultations import permissions
from protokol.consultations.services import get_visible
from protokol.errors import NotFound
from protokol.journal import services as journal
from protokol.journal.models import JournalAction, JournalEntry


def consultation_journal(actor, consultation_id) -> list[JournalEntry]:
    """Return the consultation's entries if `actor` may read its journal."""
    consultation = get_visible(actor, consultation_id)
    if not permissions.can_view_journal(actor, consultation):
        raise NotFound("Consultation not found.", field="id")

    entries = JournalEntry.objects.filter(consultation_id=consultation.pk)
    if not permissions.can_view_internal(actor, consultation):
        # Citizens do not learn that internal notes exist.
        entries = entries.exclude(
            action=JournalAction.MESSAGE_CREATE, after__visibility="internal"
        )
    entries = list(entries.order_by("index"))
    journal.record_now(
        JournalAction.JOURNAL_READ,
        actor=actor,
        object_type="consultation",
        object_id=consultation.pk,
        object_label=consultation.number,
        consultation_id=consultation.pk,
        after={"entries": len(entries)},
    )
    return entries
