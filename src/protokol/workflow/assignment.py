"""Assignment of a new consultation to an operator of its department."""

from datetime import UTC, datetime

import structlog
from django.conf import settings
from django.db.models import Count, Max, Q
from django.utils import timezone

from protokol.accounts.models import Department, Role, User
from protokol.analytics.aggregates import mark_stale
from protokol.consultations import lifecycle
from protokol.consultations.models import Consultation, Transition
from protokol.journal import services as journal
from protokol.journal.models import JournalAction

log = structlog.get_logger(__name__)

QUEUE = "queue"
ROUND_ROBIN = "round_robin"


def department_operators(department: Department) -> list[User]:
    """Return the active operators who work in `department`."""
    return list(
        User.objects.filter(role=Role.OPERATOR, is_active=True)
        .filter(Q(departments=department) | Q(all_departments=True))
        .distinct()
        .order_by("pk")
    )


def open_counts(operators: list[User]) -> dict[int, int]:
    """Return the number of open consultations assigned to each operator, by id."""
    rows = (
        Consultation.objects.filter(assignee__in=operators)
        .exclude(status__in=lifecycle.CLOSED_STATUSES)
        .values("assignee")
        .annotate(count=Count("id"))
    )
    return {row["assignee"]: row["count"] for row in rows}


def last_assigned_at(operator: User) -> datetime | None:
    """Return when `operator` last got a consultation, assigned or taken."""
    assigned = Transition.objects.filter(
        action="assign", details__assignee_id=operator.pk
    ).aggregate(at=Max("created_at"))["at"]
    taken = Transition.objects.filter(action="take", actor=operator).aggregate(
        at=Max("created_at")
    )["at"]
    times = [time for time in (assigned, taken) if time is not None]
    return max(times) if times else None


def pick_operator(department: Department) -> tuple[User, int] | None:
    """Return the operator with the fewest open consultations and that count.

    Ties go to the operator whose last assignment is the oldest, and an
    operator never assigned one comes first. None when the department has
    no operator.
    """
    operators = department_operators(department)
    if not operators:
        return None
    counts = open_counts(operators)
    oldest = datetime.min.replace(tzinfo=UTC)

    def rank(operator: User) -> tuple:
        last = last_assigned_at(operator) or oldest
        return (counts.get(operator.pk, 0), last, operator.pk)

    chosen = min(operators, key=rank)
    return chosen, counts.get(chosen.pk, 0)


def assign_new(consultation: Consultation) -> User | None:
    """Assign a new consultation when PROTOKOL_ASSIGNMENT is round_robin.

    Runs in the creating transaction. The department row is locked, so two
    consultations created at once are assigned one after the other.
    """
    return _assign_round_robin(consultation, reason="new")


def assign_forwarded(consultation: Consultation) -> User | None:
    """Assign a forwarded consultation in its new department, as a new one is.

    Runs in the forwarding transaction, after the forward cleared the
    assignee; with the queue mode it stays unassigned.
    """
    return _assign_round_robin(consultation, reason="forward")


def _assign_round_robin(consultation: Consultation, *, reason: str) -> User | None:
    if settings.CONFIG.assignment != ROUND_ROBIN:
        return None
    Department.objects.select_for_update(no_key=True).filter(
        pk=consultation.department_id
    ).get()
    picked = pick_operator(consultation.department)
    if picked is None:
        log.warning(
            "assignment_no_operator",
            consultation_id=consultation.pk,
            department=consultation.department.code,
            reason=reason,
        )
        return None

    operator, open_count = picked
    now = timezone.now()
    details = {
        "mode": ROUND_ROBIN,
        "reason": reason,
        "assignee_id": operator.pk,
        "assignee": operator.display_name,
        "open_consultations": open_count,
    }
    consultation.assignee = operator
    consultation.save(update_fields=["assignee"])
    mark_stale([consultation.pk])
    Transition.objects.create(
        consultation=consultation,
        action="assign",
        from_status=consultation.status,
        to_status=consultation.status,
        actor=None,
        actor_name="Protokol",
        actor_role="system",
        details=details,
        created_at=now,
    )
    journal.record(
        JournalAction.CONSULTATION_TRANSITION,
        actor=None,
        object_type="consultation",
        object_id=consultation.pk,
        object_label=consultation.number,
        consultation_id=consultation.pk,
        after={"action": "assign", **details},
    )
    log.info(
        "consultation_assigned",
        consultation_id=consultation.pk,
        assignee_id=operator.pk,
        open_consultations=open_count,
        reason=reason,
    )
    return operator
