"""Classification of journal entries into events, and the recipients of each kind.

Recipients by kind (docs/notifications.md has the same table):

- status_changed: citizen and assignee; on submit also the department's
  reviewers; on forward the new department's operators instead of staff.
  A deadline extension is a status_changed event with action "extend".
- data_requested, protocol_signed: citizen and assignee.
- dispute_opened: citizen, assignee and the department's supervisors; the
  citizen who disputed is notified too, as a receipt of the claims.
- dispute_concluded (conclude or reopen): citizen, assignee, the
  department's supervisors and the dispute's expert.
- message_new, public: citizen, and the assignee or, while unassigned, the
  department's operators.
- message_new, internal: never the citizen; the assignee and the
  department's operators and reviewers.
- deadline_warning: the assignee or, while unassigned, the operators.
- deadline_breached: the same plus the department's supervisors.

Apart from the dispute_opened receipt, the actor of an entry is never
notified of it.
"""

from dataclasses import dataclass

from django.db.models import Q

from protokol.accounts.models import Role, User
from protokol.consultations.models import Consultation, Visibility
from protokol.journal.models import JournalAction, JournalEntry
from protokol.notifications.models import EventKind

# Journal actions that can produce an event; the receiver ignores the rest
# (reads, logins, imports) without enqueuing a task.
SOURCE_ACTIONS = frozenset(
    {
        JournalAction.CONSULTATION_TRANSITION,
        JournalAction.CONSULTATION_FORWARD,
        JournalAction.CONSULTATION_EXTEND,
        JournalAction.MESSAGE_CREATE,
    }
)

TRANSITION_KINDS = {
    "request_data": EventKind.DATA_REQUESTED,
    "sign": EventKind.PROTOCOL_SIGNED,
    "dispute": EventKind.DISPUTE_OPENED,
    "conclude": EventKind.DISPUTE_CONCLUDED,
    # A reopened consultation ends the dispute with a new answer to come.
    "reopen": EventKind.DISPUTE_CONCLUDED,
}

CITIZEN_KINDS = frozenset(
    {
        EventKind.STATUS_CHANGED,
        EventKind.DATA_REQUESTED,
        EventKind.PROTOCOL_SIGNED,
        EventKind.DISPUTE_OPENED,
        EventKind.DISPUTE_CONCLUDED,
        EventKind.MESSAGE_NEW,
    }
)


@dataclass(frozen=True)
class EntryEvent:
    """The event a journal entry stands for."""

    kind: str
    public: bool
    params: dict


def classify(entry: JournalEntry) -> EntryEvent | None:
    """Return the event of a journal entry, or None for entries that notify no one."""
    if entry.consultation_id is None:
        return None
    after = entry.after or {}
    before = entry.before or {}
    number = after.get("number") or entry.object_label

    if entry.action == JournalAction.CONSULTATION_TRANSITION:
        action = after.get("action", "")
        kind = TRANSITION_KINDS.get(action, EventKind.STATUS_CHANGED)
        params = {
            "number": number,
            "action": action,
            "from_status": before.get("status"),
            "status": after.get("status"),
        }
        return EntryEvent(kind, True, params)
    if entry.action == JournalAction.CONSULTATION_FORWARD:
        params = {
            "number": number,
            "action": "forward",
            "from_status": before.get("status"),
            "status": after.get("status"),
            "department_id": after.get("department_id"),
        }
        return EntryEvent(EventKind.STATUS_CHANGED, True, params)
    if entry.action == JournalAction.CONSULTATION_EXTEND:
        # The law on citizens' appeals requires a notice of every extension.
        params = {
            "number": number,
            "action": "extend",
            "status": after.get("status"),
            "new_deadline": after.get("new_deadline"),
        }
        return EntryEvent(EventKind.STATUS_CHANGED, True, params)
    if entry.action == JournalAction.MESSAGE_CREATE:
        public = after.get("visibility") == Visibility.PUBLIC
        params = {"number": number, "visibility": after.get("visibility")}
        return EntryEvent(EventKind.MESSAGE_NEW, public, params)
    return None


def _department_staff(consultation: Consultation, roles: list[str]) -> list[User]:
    in_department = Q(departments=consultation.department_id)
    if Role.SUPERVISOR in roles:
        in_department |= Q(all_departments=True)
    return list(
        User.objects.filter(in_department, role__in=roles, is_active=True).distinct()
    )


def _assignee_or_operators(consultation: Consultation) -> list[User]:
    if consultation.assignee_id is not None:
        return [consultation.assignee]
    return _department_staff(consultation, [Role.OPERATOR])


def _dispute_experts(consultation: Consultation) -> list[User]:
    from protokol.disputes.models import Dispute

    # Conclude and reopen end the latest dispute. An earlier dispute's
    # expert took no part in it, even when the latest one had no expert.
    latest = (
        Dispute.objects.filter(consultation=consultation)
        .select_related("expert")
        .first()
    )
    return [latest.expert] if latest and latest.expert_id else []


def staff_recipients(
    kind: str, public: bool, params: dict, consultation: Consultation
) -> list[User]:
    """Return the staff members who receive an event, by the table above."""
    assignee = [consultation.assignee] if consultation.assignee_id else []
    if kind == EventKind.MESSAGE_NEW:
        if public:
            return _assignee_or_operators(consultation)
        return assignee + _department_staff(
            consultation, [Role.OPERATOR, Role.REVIEWER]
        )
    if kind == EventKind.DEADLINE_WARNING:
        return _assignee_or_operators(consultation)
    if kind == EventKind.DEADLINE_BREACHED:
        return _assignee_or_operators(consultation) + _department_staff(
            consultation, [Role.SUPERVISOR]
        )
    if kind == EventKind.DISPUTE_OPENED:
        return assignee + _department_staff(consultation, [Role.SUPERVISOR])
    if kind == EventKind.DISPUTE_CONCLUDED:
        return (
            assignee
            + _department_staff(consultation, [Role.SUPERVISOR])
            + _dispute_experts(consultation)
        )
    if params.get("action") == "submit":
        return assignee + _department_staff(consultation, [Role.REVIEWER])
    if params.get("action") == "forward":
        return _department_staff(consultation, [Role.OPERATOR])
    return assignee


def recipients(
    kind: str,
    public: bool,
    params: dict,
    consultation: Consultation,
    actor_id: int | None,
) -> list[User]:
    """Return the users who receive an event, each once, never its actor.

    The one exception is the citizen who opened a dispute, who gets it as a
    receipt.
    The citizen is added only for public events of the kinds in
    CITIZEN_KINDS, which is what keeps internal notes and escalations away
    from citizens on every channel.
    """
    users = staff_recipients(kind, public, params, consultation)
    if public and kind in CITIZEN_KINDS:
        users.append(consultation.citizen)

    # The citizen's own dispute is confirmed to them as a receipt.
    receipt = kind == EventKind.DISPUTE_OPENED and public
    unique = {}
    for user in users:
        is_actor = user.pk == actor_id and not (
            receipt and user.pk == consultation.citizen_id
        )
        if not is_actor and user.is_active:
            unique.setdefault(user.pk, user)
    return list(unique.values())
