"""Reading the journal, itself a journaled read."""

from protokol.accounts.models import Role
from protokol.consultations import permissions
from protokol.consultations.services import get_visible
from protokol.errors import NotFound, PermissionDenied
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


# Roles that may read any journal entry by its index.
ENTRY_READER_ROLES = frozenset({Role.AUDITOR, Role.SUPERVISOR, Role.ADMIN})


def journal_entry(actor, index: int) -> JournalEntry:
    """Return entry `index` if `actor` is an auditor, supervisor or administrator."""
    if actor.role not in ENTRY_READER_ROLES:
        journal.record_now(
            JournalAction.ACCESS_DENIED,
            actor=actor,
            object_type="journal_entry",
            object_id=index,
            after={"reason": "role"},
        )
        raise PermissionDenied(
            "Only auditors, supervisors and administrators may read journal "
            "entries by index.",
        )

    entry = JournalEntry.objects.filter(index=index).first()
    if entry is None:
        raise NotFound(f"Journal entry {index} not found.", field="index")
    journal.record_now(
        JournalAction.JOURNAL_READ,
        actor=actor,
        object_type="journal_entry",
        object_id=index,
        consultation_id=entry.consultation_id,
    )
    return entry
