"""A consultation's regulation deadlines, recomputed from its recorded history.

Nothing here is stored: the clocks are replayed from the consultation's
transitions and messages each time, so a change of calendar or target
applies to past consultations as well.
"""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from protokol.accounts.models import STAFF_ROLES, Role
from protokol.consultations.models import Consultation, Status
from protokol.workflow.calendars import BusinessCalendar, stored_hours
from protokol.workflow.extensions import extension_days
from protokol.workflow.models import DepartmentCalendar, ServiceTarget
from protokol.workflow.sla import (
    FIRST_RESPONSE,
    REGISTRATION,
    ClockState,
    Deadline,
    Target,
    Unit,
    evaluate,
)

TARGET_LABELS = {
    "registration": _("Регистрация"),
    "first_response": _("Первый ответ"),
    "answer": _("Ответ по существу"),
}

_RUNNING, _PAUSED, _STOPPED = ClockState.RUNNING, ClockState.PAUSED, ClockState.STOPPED

# What each status does to each clock. Waiting for the citizen's data pauses
# the clocks; a signed answer stops them; a reopened dispute resumes them.
CLOCKS: dict[str, dict[str, ClockState]] = {
    "registration": {Status.INITIATED: _RUNNING},
    "first_response": {
        Status.INITIATED: _RUNNING,
        Status.DATA_REQUESTED: _PAUSED,
        Status.DRAFTING: _RUNNING,
        Status.IN_REVIEW: _RUNNING,
        Status.APPROVED: _RUNNING,
    },
    "answer": {
        Status.INITIATED: _RUNNING,
        Status.DATA_REQUESTED: _PAUSED,
        Status.DRAFTING: _RUNNING,
        Status.IN_REVIEW: _RUNNING,
        Status.APPROVED: _RUNNING,
    },
}


def targets_for(consultation: Consultation) -> list[Target]:
    """Return the regulation targets of the consultation's service.

    A target stored for the service replaces the default of the same name.
    The default answer target is the service's `deadline_days`.
    """
    targets = {
        REGISTRATION.name: REGISTRATION,
        FIRST_RESPONSE.name: FIRST_RESPONSE,
        "answer": Target(
            "answer", consultation.service.deadline_days, Unit.CALENDAR_DAYS
        ),
    }
    for stored in ServiceTarget.objects.filter(service_id=consultation.service_id):
        targets[stored.name] = Target(stored.name, stored.amount, Unit(stored.unit))
    return list(targets.values())


def calendar_for(consultation: Consultation) -> BusinessCalendar:
    """Return the business calendar of the department holding the consultation."""
    stored = DepartmentCalendar.objects.filter(
        department_id=consultation.department_id
    ).first()
    if stored is None:
        return BusinessCalendar()
    return BusinessCalendar(
        time_zone=stored.time_zone,
        week=tuple(stored_hours(day) for day in stored.week),
        extra_working_days=frozenset(
            map(date.fromisoformat, stored.extra_working_days)
        ),
        extra_days_off=frozenset(map(date.fromisoformat, stored.extra_days_off)),
    )


def consultation_deadlines(
    consultation: Consultation, *, now: datetime | None = None
) -> list[Deadline]:
    """Return the state of each regulation target of `consultation`."""
    now = now or timezone.now()
    calendar = calendar_for(consultation)
    history = list(
        consultation.transitions.order_by("created_at", "id").values_list(
            "created_at", "action", "to_status", "details"
        )
    )
    transitions = [(moment, action, status) for moment, action, status, _ in history]
    extension = extension_days([(action, details) for _, action, _, details in history])
    first_reply = (
        consultation.messages.filter(
            visibility="public", author_role__in=list(STAFF_ROLES)
        )
        .order_by("created_at", "id")
        .values_list("created_at", flat=True)
        .first()
    )

    deadlines = []
    for target in targets_for(consultation):
        if target.name == "answer" and extension:
            target = target.extended(extension)
        changes = clock_changes(
            CLOCKS[target.name],
            consultation.created_at,
            transitions,
            restart_on_forward=target.name == "answer",
        )
        if target.name == "first_response" and first_reply is not None:
            changes = [c for c in changes if c[0] < first_reply]
            changes.append((first_reply, _STOPPED))
        deadline = evaluate(calendar, target, changes, now)
        if deadline is not None:
            deadlines.append(deadline)
    return deadlines


def clock_changes(
    clock: dict[str, ClockState],
    created_at: datetime,
    transitions: list[tuple[datetime, str, str]],
    *,
    restart_on_forward: bool = False,
) -> list[tuple[datetime, ClockState]]:
    """Turn (time, action, new status) transitions into one clock's changes.

    Statuses missing from `clock` stop it. With `restart_on_forward`, a
    forward starts the clock again, because the receiving department's time
    for an answer runs from the day it receives the consultation.
    """
    changes = [(created_at, clock.get(Status.INITIATED, _STOPPED))]
    for moment, action, to_status in transitions:
        state = clock.get(to_status, _STOPPED)
        if action == "forward" and restart_on_forward:
            changes = [(moment, state)]
        elif state is not changes[-1][1]:
            changes.append((moment, state))
    return changes


STATE_LABELS = {
    "running": _("идёт"),
    "paused": _("приостановлен: ждём данные"),
    "overdue": _("просрочен"),
    "met": _("выполнен в срок"),
    "missed": _("выполнен с опозданием"),
}


def display_zone(viewer, consultation: Consultation) -> ZoneInfo:
    """Return the zone in which `viewer` sees the consultation's times.

    A citizen sees them in the time zone of their profile (Europe/Moscow by
    default); staff, and callers without a viewer, in the department
    calendar's zone, which is where the regulation runs.
    """
    if viewer is not None and getattr(viewer, "role", None) == Role.CITIZEN:
        from protokol.profiles.services import zone_of

        return zone_of(viewer)
    return calendar_for(consultation).zone


def display_zones(viewer, consultations) -> dict[int, ZoneInfo]:
    """Return `display_zone` of each consultation by id, for a list of them.

    The calendars of their departments are read in one query.
    """
    if getattr(viewer, "role", None) == Role.CITIZEN:
        from protokol.profiles.services import zone_of

        zone = zone_of(viewer)
        return {consultation.pk: zone for consultation in consultations}

    department_ids = {consultation.department_id for consultation in consultations}
    stored = dict(
        DepartmentCalendar.objects.filter(department_id__in=department_ids).values_list(
            "department_id", "time_zone"
        )
    )
    default = BusinessCalendar().zone
    zones = {}
    for consultation in consultations:
        name = stored.get(consultation.department_id)
        zones[consultation.pk] = ZoneInfo(name) if name else default
    return zones


def deadline_rows(
    consultation: Consultation, *, now: datetime | None = None, viewer=None
) -> list[dict]:
    """Return the deadlines as plain data for the page and the API.

    Times are aware datetimes in `display_zone(viewer, consultation)`, and
    `time_zone` names that zone.
    """
    zone = display_zone(viewer, consultation)
    rows = []
    for deadline in consultation_deadlines(consultation, now=now):
        if deadline.stopped_at is not None:
            state = "missed" if deadline.breached else "met"
        elif deadline.breached:
            state = "overdue"
        else:
            state = "paused" if deadline.paused else "running"
        target = deadline.target
        rows.append(
            {
                "target": target.name,
                "label": str(TARGET_LABELS[target.name]),
                "amount": target.amount,
                "unit": str(target.unit),
                "started_at": deadline.started_at.astimezone(zone),
                "due_at": deadline.due_at.astimezone(zone),
                "stopped_at": (
                    deadline.stopped_at.astimezone(zone)
                    if deadline.stopped_at
                    else None
                ),
                "state": state,
                "state_label": str(STATE_LABELS[state]),
                "used_percent": min(round(float(deadline.used) * 100), 999),
                "time_zone": zone.key,
            }
        )
    return rows
