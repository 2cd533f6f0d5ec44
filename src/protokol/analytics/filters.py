"""Access to analytics, and the filters every analytics view and export takes."""

import re
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, time, timedelta

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from protokol.accounts.models import STAFF_ROLES, User
from protokol.catalog.services import check_filter_codes
from protokol.consultations.models import Channel
from protokol.consultations.permissions import consultation_scope
from protokol.errors import PermissionDenied, ValidationFailed
from protokol.validation import check_query_text

GRANULARITIES = ("month", "week")
# Dates outside these fail in date arithmetic (a day added to 9999-12-31) or
# in the server's time zone; no consultation lies outside them.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2999, 12, 31)
DEFAULT_REPEAT_DAYS = 30
MAX_REPEAT_DAYS = 3650
# The one date format of the filters. date.fromisoformat alone also reads
# 20210101 and 2021-W01-1 since Python 3.11.
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


@dataclass(frozen=True)
class Filters:
    """The selection of consultations that a statistic covers."""

    date_from: date | None = None
    date_to: date | None = None
    service: str = ""
    department: str = ""
    district: str = ""
    channel: str = ""
    operator: int | None = None
    granularity: str = "month"
    # A request repeats an earlier one of the same citizen and service made
    # at most this many days before it.
    repeat_days: int = DEFAULT_REPEAT_DAYS

    def as_params(self) -> dict[str, str]:
        """Return the filters as query parameters, leaving out empty ones."""
        params = {}
        for name, value in asdict(self).items():
            if value in (None, ""):
                continue
            params[name] = value.isoformat() if isinstance(value, date) else str(value)
        return params

    def narrowed(self, **changes) -> "Filters":
        return replace(self, **changes)


def can_view_analytics(user) -> bool:
    """Return whether `user` may see statistics: active staff, never citizens."""
    return user.is_authenticated and user.is_active and user.role in STAFF_ROLES


def analytics_scope(user) -> Q:
    """Return the consultations whose numbers `user` may see, or raise for citizens.

    Staff see the numbers of the consultations they may open, so an operator of
    one department sees that department only.
    """
    if not can_view_analytics(user):
        raise PermissionDenied(gettext("Statistics are available to staff only."))
    return consultation_scope(user)


def parse_filters(params) -> Filters:
    """Build Filters from query parameters, raising ValidationFailed on bad input."""
    date_from = _date(params, "date_from")
    date_to = _date(params, "date_to")
    if date_from and date_to and date_from > date_to:
        raise ValidationFailed(
            gettext("date_to must not be earlier than date_from."), field="date_to"
        )

    service = _text(params, "service")
    department = _text(params, "department")
    check_filter_codes(service=service, department=department)
    channel = _text(params, "channel")
    if channel and channel not in Channel.values:
        raise ValidationFailed(
            gettext("Unknown channel '%(channel)s'; use one of %(channels)s.")
            % {"channel": channel, "channels": ", ".join(Channel.values)},
            field="channel",
        )
    granularity = _text(params, "granularity") or "month"
    if granularity not in GRANULARITIES:
        raise ValidationFailed(
            gettext("granularity must be one of %(values)s.")
            % {"values": ", ".join(GRANULARITIES)},
            field="granularity",
        )
    operator = _integer(params, "operator", 1, None)
    # Only staff are operators, so a citizen's id is as unknown as a missing one.
    staff = User.objects.filter(pk=operator, role__in=STAFF_ROLES)
    if operator is not None and not staff.exists():
        raise ValidationFailed(
            gettext("Unknown operator id %(id)s.") % {"id": operator},
            field="operator",
        )
    repeat_days = _integer(params, "repeat_days", 1, MAX_REPEAT_DAYS)

    return Filters(
        date_from=date_from,
        date_to=date_to,
        service=service,
        department=department,
        district=_text(params, "district")[:100],
        channel=channel,
        operator=operator,
        granularity=granularity,
        repeat_days=DEFAULT_REPEAT_DAYS if repeat_days is None else repeat_days,
    )


def filter_q(filters: Filters) -> Q:
    """Return the database filter of `filters`; dates are days in the server's zone."""
    q = Q()
    if filters.date_from:
        q &= Q(created_at__gte=day_start(filters.date_from))
    if filters.date_to:
        q &= Q(created_at__lt=day_start(filters.date_to + timedelta(days=1)))
    if filters.service:
        q &= Q(service__code=filters.service)
    if filters.department:
        q &= Q(department__code=filters.department)
    if filters.district:
        q &= Q(district=filters.district)
    if filters.channel:
        q &= Q(channel=filters.channel)
    if filters.operator is not None:
        q &= Q(assignee_id=filters.operator)
    return q


def day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _text(params, name: str) -> str:
    value = params.get(name)
    text = "" if value is None else str(value).strip()
    return check_query_text(text, field=name)


def _date(params, name: str) -> date | None:
    value = _text(params, name)
    if not value:
        return None
    try:
        if not ISO_DATE.fullmatch(value):
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            gettext("%(field)s must be a date as YYYY-MM-DD.") % {"field": name},
            field=name,
        ) from None
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise ValidationFailed(
            gettext("%(field)s must be a date from %(earliest)s to %(latest)s.")
            % {"field": name, "earliest": EARLIEST_DATE, "latest": LATEST_DATE},
            field=name,
        )
    return day


def _integer(params, name: str, low: int, high: int | None) -> int | None:
    value = _text(params, name)
    if not value:
        return None
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or number < low or (high is not None and number > high):
        limit = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValidationFailed(
            gettext("%(field)s must be a whole number in %(limit)s.")
            % {"field": name, "limit": limit},
            field=name,
        )
    return number
