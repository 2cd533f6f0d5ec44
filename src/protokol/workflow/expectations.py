"""Expectations before a new request: typical processing time, earlier requests."""

from datetime import datetime, timedelta
from statistics import median

from django.db.models import Min, Q
from django.utils import timezone

from protokol.consultations import lifecycle
from protokol.consultations.models import Consultation, Status, Transition

WINDOW = timedelta(days=90)
RECENT = timedelta(days=90)


def typical_days(*, now: datetime | None = None) -> dict[int, dict]:
    """Return, per service id, the median time from request to signed answer.

    Each value has `median_days` rounded to a tenth, `median_seconds` and
    `count`. Only consultations signed in the last 90 days count, so the
    figure follows the department's current pace. Services without any are
    absent.
    """
    now = now or timezone.now()
    signed = (
        Transition.objects.filter(to_status=Status.SIGNED, created_at__gte=now - WINDOW)
        .values("consultation_id")
        .annotate(signed_at=Min("created_at"))
        .values_list(
            "consultation__service_id", "consultation__created_at", "signed_at"
        )
    )
    durations: dict[int, list[float]] = {}
    for service_id, created_at, signed_at in signed:
        seconds = (signed_at - created_at).total_seconds()
        durations.setdefault(service_id, []).append(seconds)
    typical = {}
    for service_id, values in durations.items():
        seconds = median(values)
        typical[service_id] = {
            "median_days": round(seconds / 86400, 1),
            "median_seconds": seconds,
            "count": len(values),
        }
    return typical


def similar_for(citizen, service_id: int, *, now: datetime | None = None) -> list:
    """Return the citizen's open or recent consultations of the same service."""
    now = now or timezone.now()
    open_statuses = set(Status.values) - lifecycle.CLOSED_STATUSES
    return list(
        Consultation.objects.filter(citizen=citizen, service_id=service_id)
        .filter(Q(status__in=open_statuses) | Q(created_at__gte=now - RECENT))
        .order_by("-created_at")[:5]
    )
