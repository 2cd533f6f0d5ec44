"""Deadline warnings and breaches, found by replaying open consultations' clocks."""

from datetime import datetime

import structlog
from django.utils import timezone

from protokol.consultations.models import Consultation, Status
from protokol.notifications import services
from protokol.notifications.models import EventKind
from protokol.workflow.deadlines import consultation_deadlines

log = structlog.get_logger(__name__)

WARNING_SHARE = 0.8
# Statuses in which some clock can still run (see workflow.deadlines.CLOCKS).
OPEN_STATUSES = [
    Status.INITIATED,
    Status.DATA_REQUESTED,
    Status.DRAFTING,
    Status.IN_REVIEW,
    Status.APPROVED,
]


def check_deadlines(*, now: datetime | None = None, progress=None) -> list:
    """Store one event per consultation × target × kind that newly applies.

    A running or paused target at >= 80 % of its time gets a warning, and
    one past its deadline a breach (with escalation to supervisors). A
    target breached before the first check gets the breach only. Returns
    the new events for the caller to fan out.

    `progress(items, total)` wraps the open consultations, for a progress
    bar; without it nothing counts them first.
    """
    now = now or timezone.now()
    found = []
    open_consultations = Consultation.objects.filter(
        status__in=OPEN_STATUSES
    ).select_related("service")
    consultations = open_consultations.iterator(chunk_size=500)
    if progress is not None:
        consultations = progress(consultations, open_consultations.count())
    for consultation in consultations:
        for deadline in consultation_deadlines(consultation, now=now):
            if deadline.stopped_at is not None:
                continue
            if deadline.breached:
                kind = EventKind.DEADLINE_BREACHED
            elif deadline.used >= WARNING_SHARE:
                kind = EventKind.DEADLINE_WARNING
            else:
                continue
            event = services.record_deadline_event(
                consultation, deadline.target.name, kind, deadline.due_at
            )
            if event is not None:
                found.append(event)
    log.info("deadlines_checked", new_events=len(found))
    return found
