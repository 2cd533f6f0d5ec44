"""Reading the journal, itself a journaled read."""

from django.utils.translation import gettext

from protokol.accounts.models import Role
from protokol.consultations import permissions
from protokol.consultations.models import Consultation
from protokol.consultations.services import get_visible
from protokol.errors import NotFound, PermissionDenied
from protokol.journal import services as journal
from protokol.journal.models import JournalAction, JournalEntry
from protokol.security.services import record_denial

# Roles that may read any journal entry by its index, and the denials and
# alerts in a consultation's journal.
ENTRY_READER_ROLES = frozenset({Role.AUDITOR, Role.SUPERVISOR, Role.ADMIN})

# Entries about other people's attempts, which only ENTRY_READER_ROLES see.
SECURITY_ACTIONS = (JournalAction.ACCESS_DENIED, JournalAction.SECURITY_ALERT)


def consultation_journal(actor, consultation_id) -> list[JournalEntry]:
    """Return the consultation's entries if `actor` may read its journal.

    Denied attempts on the consultation are listed for auditors, supervisors
    and administrators only, so a citizen does not learn who tried to open
    their consultation, nor staff who were turned away.
    """
    consultation = get_visible(actor, consultation_id)
    if not permissions.can_view_journal(actor, consultation):
        record_denial(
            actor,
            object_type="journal",
            object_id=consultation.pk,
            reason="not_visible",
            consultation_id=consultation.pk,
        )
        raise NotFound(gettext("Consultation not found."), field="consultation_id")

    entries = JournalEntry.objects.filter(consultation_id=consultation.pk)
    if actor.role not in ENTRY_READER_ROLES:
        entries = entries.exclude(action__in=SECURITY_ACTIONS)
    if not permissions.can_view_internal(actor, consultation):
        # Citizens do not learn that internal notes exist.
        entries = entries.exclude(
            action=JournalAction.MESSAGE_CREATE, after__visibility="internal"
        )
    entries = journal.with_payloads(list(entries.order_by("index")))
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


def journal_entry(actor, index: int) -> JournalEntry:
    """Return entry `index` if `actor` is an auditor, supervisor or administrator.

    An entry about a consultation is returned only when the actor may see that
    consultation, so staff of one department do not read another's entries.
    """
    if actor.role not in ENTRY_READER_ROLES:
        record_denial(
            actor, object_type="journal_entry", object_id=index, reason="role"
        )
        raise PermissionDenied(
            "Only auditors, supervisors and administrators may read journal "
            "entries by index.",
        )

    entry = JournalEntry.objects.filter(index=index).first()
    if entry is None or not _entry_visible(actor, entry):
        if entry is not None:
            record_denial(
                actor,
                object_type="journal_entry",
                object_id=index,
                reason="not_visible",
                consultation_id=entry.consultation_id,
            )
        raise NotFound(f"Journal entry {index} not found.", field="index")
    journal.record_now(
        JournalAction.JOURNAL_READ,
        actor=actor,
        object_type="journal_entry",
        object_id=index,
        consultation_id=entry.consultation_id,
    )
    return journal.with_payloads([entry])[0]


def _entry_visible(actor, entry: JournalEntry) -> bool:
    if entry.consultation_id is None:
        return True
    visible = Consultation.objects.filter(pk=entry.consultation_id).filter(
        permissions.consultation_scope(actor)
    )
    return visible.exists()
