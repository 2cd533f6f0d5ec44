"""When a closed consultation's retention period ends.

The clock starts at the last transition into a closed status (CLOSED_STATUSES
in consultations/lifecycle.py) and runs for the service's policy in years. A
legal hold stops it: the period never ends while a hold is active, and it is
extended by the time spent under lifted holds.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Max, Q
from django.utils import timezone

from protokol.consultations.lifecycle import CLOSED_STATUSES
from protokol.consultations.models import Consultation
from protokol.retention.models import (
    LEGAL_MINIMUM_YEARS,
    Disposal,
    EndAction,
    LegalHold,
    RetentionPolicy,
)


@dataclass(frozen=True)
class Rule:
    """The policy that applies to one service."""

    years: int
    end_action: str


DEFAULT_RULE = Rule(LEGAL_MINIMUM_YEARS, EndAction.ARCHIVE)


@dataclass(frozen=True)
class Due:
    """A consultation whose period has ended, and what the policy does to it."""

    consultation: Consultation
    rule: Rule
    closed_at: datetime
    due_at: datetime


def add_years(moment: datetime, years: int) -> datetime:
    """Return the same day and time `years` later; 29 February becomes 28 February."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


def rules_by_service() -> dict[int, Rule]:
    """Return the configured rule of every service that has one."""
    return {
        policy.service_id: Rule(policy.years, policy.end_action)
        for policy in RetentionPolicy.objects.all()
    }


def rule_for(service_id: int, rules: dict[int, Rule] | None = None) -> Rule:
    """Return the rule of a service, the default when it has none."""
    if rules is None:
        rules = rules_by_service()
    return rules.get(service_id, DEFAULT_RULE)


def closed_consultations():
    """Return closed consultations not yet disposed of, with `closing_transition`.

    `closing_transition` is the time of the last transition into a closed status, or
    the row's `closed_at` when no transition records it (old imports).
    """
    return (
        Consultation.objects.filter(status__in=CLOSED_STATUSES)
        .exclude(pk__in=Disposal.objects.values("consultation_id"))
        .annotate(
            closing_transition=Max(
                "transitions__created_at",
                filter=Q(transitions__to_status__in=CLOSED_STATUSES),
            )
        )
        .select_related("service")
    )


def closing_time(consultation) -> datetime | None:
    """Return when the consultation was closed, from its annotation or row."""
    return getattr(consultation, "closing_transition", None) or consultation.closed_at


def held_duration(holds, closed_at: datetime, now: datetime) -> timedelta | None:
    """Return the time after closing spent under lifted holds; None while held."""
    total = timedelta()
    for hold in holds:
        if hold.lifted_at is None:
            return None
        start = max(hold.set_at, closed_at)
        if hold.lifted_at > start:
            total += hold.lifted_at - start
    return total


def due_date(consultation, rule: Rule, holds, now: datetime) -> datetime | None:
    """Return when the consultation's period ends; None while held or still open."""
    closed_at = closing_time(consultation)
    if closed_at is None or consultation.status not in CLOSED_STATUSES:
        return None
    held = held_duration(holds, closed_at, now)
    if held is None:
        return None
    return add_years(closed_at, rule.years) + held


def find_due(now: datetime | None = None) -> list[Due]:
    """Return the consultations whose retention period ended by `now`, oldest first."""
    now = now or timezone.now()
    rules = rules_by_service()
    # No policy is shorter than the legal minimum, so younger ones are skipped
    # in the query.
    earliest = add_years(now, -LEGAL_MINIMUM_YEARS)
    candidates = list(
        closed_consultations().filter(
            Q(closing_transition__lte=earliest)
            | Q(closing_transition__isnull=True, closed_at__lte=earliest)
        )
    )
    holds: dict[int, list[LegalHold]] = {}
    for hold in LegalHold.objects.filter(
        consultation_id__in=[c.pk for c in candidates]
    ):
        holds.setdefault(hold.consultation_id, []).append(hold)

    due = []
    for consultation in candidates:
        rule = rule_for(consultation.service_id, rules)
        end = due_date(consultation, rule, holds.get(consultation.pk, []), now)
        if end is not None and end <= now:
            due.append(Due(consultation, rule, closing_time(consultation), end))
    due.sort(key=lambda item: (item.due_at, item.consultation.pk))
    return due


def kept_until(consultation, now: datetime | None = None) -> datetime | None:
    """Return the end of the consultation's period; None while open or held."""
    now = now or timezone.now()
    closed = closed_consultations().filter(pk=consultation.pk).first()
    if closed is None:
        return None
    rule = rule_for(consultation.service_id)
    return due_date(closed, rule, list(closed.legal_holds.all()), now)
