"""Statistics of consultations grouped by service, department, district, channel,
operator or period.

Counts and shares are aggregated in the database, one GROUP BY query per table.
Times are differences of timestamps between the stored facts and the creation.

The facts of each consultation (first reply, end, returns, disputes, the
previous request) are stored in ConsultationFacts by the service layer
(protokol.analytics.facts), and the queries join them by primary key.

Large selections are read from daily aggregates (analytics.aggregates), whose
counts are exact and whose percentiles come from histograms, within 2.5 % plus
0.5 s of the exact ones. On the exact path, the medians and 90th percentiles
are PostgreSQL `percentile_cont` aggregates in the same GROUP BY. SQLite has
no percentile aggregate, so there they are computed in Python over a
values_list, with the same linear interpolation between the closest ranks.
"""

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import connections
from django.db.models import (
    Aggregate,
    BooleanField,
    Count,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncMonth, TruncWeek
from django.utils import timezone

from protokol.accounts.models import Department, User
from protokol.analytics import aggregates
from protokol.analytics.filters import Filters, analytics_scope, day_start, filter_q
from protokol.catalog.models import Service
from protokol.consultations.models import Consultation, Status
from protokol.web.forms import localized_name
from protokol.web.labels import channel_label
from protokol.workflow.deadlines import consultation_deadlines

DIMENSIONS = ("service", "department", "district", "channel", "operator", "period")

# Columns of every statistics row, in the order of tables and exports.
COLUMNS = (
    "total",
    "closed",
    "processing_n",
    "processing_median_s",
    "processing_p90_s",
    "first_response_n",
    "first_response_median_s",
    "first_response_p90_s",
    "deadline_known",
    "deadline_met",
    "deadline_share",
    "overdue_open",
    "returns",
    "returned",
    "disputed",
    "dispute_concluded",
    "dispute_reopened",
    "dispute_open",
    "repeats",
    "repeat_share",
    "closed_first",
    "closed_first_share",
    "satisfied",
    "satisfied_share",
)


def fact_annotations(repeat_days: int) -> dict:
    """Return the stored facts of each consultation as annotations.

    `end_at` is the first signing, or the closing for consultations archived
    without one. `first_reply_at` is the first public message by staff. A
    request repeats when the same citizen made a request of the same service
    at most `repeat_days` days before it.
    """
    window = timedelta(days=repeat_days)
    return {
        "first_reply_at": F("facts__first_reply_at"),
        "end_at": F("facts__end_at"),
        "f_returns": Coalesce(F("facts__returns"), Value(0)),
        "f_disputed": Coalesce(F("facts__disputed"), Value(False)),
        "f_concluded": Coalesce(F("facts__dispute_concluded"), Value(False)),
        "f_reopened": Coalesce(F("facts__dispute_reopened"), Value(False)),
        "f_satisfied": Coalesce(F("facts__satisfied"), Value(False)),
        "f_repeat": ExpressionWrapper(
            Q(facts__previous_request_at__gte=F("created_at") - window),
            output_field=BooleanField(),
        ),
    }


def facts(user, filters: Filters) -> QuerySet:
    """Return the consultations `user` may see within `filters`, with their facts.

    Statistics, comparison and problem areas read large selections from
    the daily aggregates (analytics.aggregates), and these facts only for
    small selections and the days the aggregates do not cover.
    """
    queryset = (
        Consultation.objects.filter(analytics_scope(user))
        .filter(filter_q(filters))
        .filter(_facts_range_q(filters))
    )
    return queryset.annotate(**fact_annotations(filters.repeat_days)).order_by()


def _facts_range_q(filters: Filters) -> Q:
    """Return the date range on the facts' copy of the creation time.

    The same range on both tables lets PostgreSQL join two index ranges,
    where the range on the consultation alone made it read every facts row.
    A consultation without a facts row drops out of a dated selection, so
    data written outside the service layer needs `protokol analytics-refresh`.
    """
    q = Q()
    if filters.date_from:
        q &= Q(facts__created_at__gte=day_start(filters.date_from))
    if filters.date_to:
        q &= Q(facts__created_at__lt=day_start(filters.date_to + timedelta(days=1)))
    return q


def measure_q(measure: str, now: datetime | None = None) -> Q:
    """Return the filter of the consultations that one counted measure covers."""
    now = now or timezone.now()
    closed = Q(status=Status.ARCHIVED)
    return {
        "all": Q(),
        "closed": closed,
        "answered": Q(end_at__isnull=False),
        "first_response": Q(first_reply_at__isnull=False),
        "no_first_response": Q(first_reply_at__isnull=True),
        # NOTE: the drill-down lists only consultations with a stored deadline;
        # the few without one are counted by their workflow answer target.
        "deadline_met": Q(end_at__isnull=False, end_at__lte=F("deadline")),
        "deadline_missed": Q(end_at__isnull=False, end_at__gt=F("deadline")),
        "overdue_open": Q(end_at__isnull=True, deadline__lt=now)
        & ~Q(status=Status.WITHDRAWN),
        "returned": Q(f_returns__gt=0),
        "disputed": Q(f_disputed=True),
        "dispute_concluded": Q(f_concluded=True),
        "dispute_reopened": Q(f_reopened=True),
        "dispute_open": Q(status=Status.DISPUTED),
        "repeat": Q(f_repeat=True),
        "closed_first": closed & Q(f_disputed=False),
        "satisfied": Q(f_satisfied=True),
    }[measure]


MEASURES = (
    "all",
    "closed",
    "answered",
    "first_response",
    "no_first_response",
    "deadline_met",
    "deadline_missed",
    "overdue_open",
    "returned",
    "disputed",
    "dispute_concluded",
    "dispute_reopened",
    "dispute_open",
    "repeat",
    "closed_first",
    "satisfied",
)


def group_annotations(by, granularity: str = "month") -> dict:
    """Return the annotations that name a row's group: `group` for None or
    one dimension, `group_0`, `group_1`, … for a tuple of dimensions."""
    if isinstance(by, tuple):
        return {
            f"group_{index}": group_expression(dimension, granularity)
            for index, dimension in enumerate(by)
        }
    return {"group": group_expression(by, granularity)}


def row_key(row: dict, keys: tuple[str, ...]):
    """Return the group of a values() row: one value, or a tuple for
    several `keys`."""
    if len(keys) == 1:
        return row[keys[0]]
    return tuple(row[key] for key in keys)


def group_expression(by: str | None, granularity: str = "month"):
    """Return the expression whose value names a row's group."""
    if by is None:
        return Value("all")
    if by == "period":
        trunc = TruncWeek if granularity == "week" else TruncMonth
        return trunc("created_at")
    return {
        "service": F("service__code"),
        "department": F("department__code"),
        "district": F("district"),
        "channel": F("channel"),
        "operator": F("assignee_id"),
    }[by]


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Return the percentile by linear interpolation between the closest ranks."""
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    share = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * share


def distribution(seconds: Iterable[float]) -> tuple[int, float | None, float | None]:
    """Return the count, median and 90th percentile of durations in seconds."""
    values = sorted(seconds)
    if not values:
        return 0, None, None
    return len(values), statistics.median(values), percentile(values, 0.9)


def statistics_rows(
    user, filters: Filters, by: str | None, *, now: datetime | None = None
) -> list[dict]:
    """Return one row of COLUMNS per group of `by`, or a single total for None."""
    return statistics_tables(user, filters, (by,), now=now)[by]


def statistics_tables(
    user, filters: Filters, groupings: tuple, *, now: datetime | None = None
) -> dict[str | None, list[dict]]:
    """Return statistics_rows of each grouping of `groupings`.

    From the aggregates, the groupings are read in one snapshot and the
    total is summed from another grouping, so a page with a total, periods
    and a table reads the histograms twice, not three times.
    """
    now = now or timezone.now()
    tables = aggregates.counted_tables(
        user, filters, dict.fromkeys(groupings, aggregates.EXTRAS), now
    )
    if tables is None:
        tables = {}
        for by in groupings:
            queryset = facts(user, filters).annotate(
                group=group_expression(by, filters.granularity)
            )
            tables[by] = exact_counted(queryset, now)
    return {by: table_rows(tables[by], by, filters.granularity) for by in groupings}


def table_rows(counted: dict, by: str | None, granularity: str) -> list[dict]:
    """Return the rows of counted groups with shares and labels, in table order."""
    rows = []
    for key in sorted(counted, key=_sort_key):
        row = {"key": key, **counted[key]}
        _add_shares(row)
        rows.append(row)
    label_rows(rows, by, granularity)
    if by != "period":
        rows.sort(key=lambda row: str(row["label"]).casefold())
    return rows


def _sort_key(key):
    return (key is None, key if not isinstance(key, str) else key.casefold())


def exact_counted(
    queryset: QuerySet,
    now: datetime,
    *,
    percentiles: bool = True,
    keys: tuple[str, ...] = ("group",),
) -> dict:
    """Return the counts of each group of `queryset`, with the answered
    consultations without a stored deadline judged by their workflow target,
    and the time columns unless `percentiles` is False.

    The annotations `keys` name the group (see group_annotations); the time
    columns need the single annotation `group`.
    """
    counted = _counts(queryset, now, percentiles=percentiles, keys=keys)
    workflow = {}
    if any(row.pop("answered_without_deadline") for row in counted.values()):
        workflow = _workflow_deadlines(queryset, now, keys)
    for key, row in counted.items():
        known, met = workflow.get(key, (0, 0))
        row["deadline_known"] += known
        row["deadline_met"] += met
    return counted


def _counts(
    queryset: QuerySet,
    now: datetime,
    *,
    percentiles: bool = True,
    keys: tuple[str, ...] = ("group",),
) -> dict:
    """Return the counts and time columns of each group, in one GROUP BY query.

    `answered_without_deadline` counts the rows that _workflow_deadlines
    has to judge, so a selection without them skips that query.
    """
    with_deadline = Q(end_at__isnull=False, deadline__isnull=False)
    without_deadline = Q(end_at__isnull=False, deadline__isnull=True)
    aggregates = {
        "answered_without_deadline": Count("pk", filter=without_deadline),
        "total": Count("pk"),
        "closed": Count("pk", filter=measure_q("closed")),
        "deadline_known": Count("pk", filter=with_deadline),
        "deadline_met": Count("pk", filter=measure_q("deadline_met")),
        "overdue_open": Count("pk", filter=measure_q("overdue_open", now)),
        "returns": Coalesce(Sum("f_returns"), Value(0)),
        "returned": Count("pk", filter=measure_q("returned")),
        "disputed": Count("pk", filter=measure_q("disputed")),
        "dispute_concluded": Count("pk", filter=measure_q("dispute_concluded")),
        "dispute_reopened": Count("pk", filter=measure_q("dispute_reopened")),
        "dispute_open": Count("pk", filter=measure_q("dispute_open")),
        "repeats": Count("pk", filter=measure_q("repeat")),
        "closed_first": Count("pk", filter=measure_q("closed_first")),
        "satisfied": Count("pk", filter=measure_q("satisfied")),
    }
    postgresql = connections[queryset.db].vendor == "postgresql"
    if not percentiles:
        for name, end in (
            ("processing", "end_at"),
            ("first_response", "first_reply_at"),
        ):
            aggregates[f"{name}_n"] = Count("pk", filter=Q(**{f"{end}__isnull": False}))
    elif postgresql:
        aggregates.update(_percentile_aggregates())
    grouped = queryset.values(*keys).annotate(**aggregates).order_by()
    counted = {}
    for row in grouped:
        key = row_key(row, keys)
        for name in keys:
            del row[name]
        counted[key] = row
    if percentiles and not postgresql:
        for key, columns in _time_columns(queryset).items():
            counted[key].update(columns)
    return counted


class PercentileCont(Aggregate):
    """PostgreSQL's continuous percentile of an ordered set of numbers."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


def _seconds(end: str) -> Func:
    return Func(
        F(end) - F("created_at"),
        template="EXTRACT(EPOCH FROM %(expressions)s)",
        output_field=FloatField(),
    )


def _percentile_aggregates() -> dict:
    """Return PostgreSQL aggregates of the count, median and p90 of each duration."""
    aggregates = {}
    for name, end in (("processing", "end_at"), ("first_response", "first_reply_at")):
        present = Q(**{f"{end}__isnull": False})
        seconds = _seconds(end)
        aggregates[f"{name}_n"] = Count("pk", filter=present)
        aggregates[f"{name}_median_s"] = PercentileCont(seconds, 0.5, filter=present)
        aggregates[f"{name}_p90_s"] = PercentileCont(seconds, 0.9, filter=present)
    return aggregates


def _time_columns(queryset: QuerySet) -> dict:
    """Return the count, median and p90 of each duration per group, in Python."""
    columns = {}
    for key, durations in _times(queryset).items():
        columns[key] = {}
        for name, values in durations.items():
            n, median, p90 = distribution(values)
            columns[key].update(
                {f"{name}_n": n, f"{name}_median_s": median, f"{name}_p90_s": p90}
            )
    return columns


def median_times(queryset: QuerySet, keys: tuple[str, ...], end: str) -> dict:
    """Return {key values: (rows, durations, median duration)} per group of `keys`.

    A duration is the seconds from creation to `end`. Rows without `end`
    count in `rows` only. PostgreSQL groups and takes the median in one query;
    on SQLite the durations are read and the median taken in Python.
    """
    present = Q(**{f"{end}__isnull": False})
    if connections[queryset.db].vendor == "postgresql":
        grouped = (
            queryset.values(*keys)
            .annotate(
                rows=Count("pk"),
                durations=Count("pk", filter=present),
                median=PercentileCont(_seconds(end), 0.5, filter=present),
            )
            .order_by()
        )
        return {
            tuple(row[key] for key in keys): (
                row["rows"],
                row["durations"],
                row["median"],
            )
            for row in grouped
        }

    samples: dict = defaultdict(lambda: [0, []])
    values = queryset.values_list(*keys, "created_at", end)
    for *group, created_at, moment in values.iterator(chunk_size=2000):
        sample = samples[tuple(group)]
        sample[0] += 1
        if moment is not None:
            sample[1].append((moment - created_at).total_seconds())
    result = {}
    for group, (rows, durations) in samples.items():
        median = statistics.median(durations) if durations else None
        result[group] = (rows, len(durations), median)
    return result


def _times(queryset: QuerySet) -> dict:
    times: dict = defaultdict(lambda: {"processing": [], "first_response": []})
    rows = queryset.values_list("group", "created_at", "end_at", "first_reply_at")
    for key, created_at, end_at, first_reply_at in rows.iterator(chunk_size=2000):
        if end_at is not None:
            times[key]["processing"].append((end_at - created_at).total_seconds())
        if first_reply_at is not None:
            elapsed = (first_reply_at - created_at).total_seconds()
            times[key]["first_response"].append(elapsed)
    return times


def _workflow_deadlines(
    queryset: QuerySet, now: datetime, keys: tuple[str, ...] = ("group",)
) -> dict:
    """Count answered consultations without a stored deadline by the answer target."""
    answered = queryset.filter(deadline__isnull=True, end_at__isnull=False)
    groups = {row["pk"]: row_key(row, keys) for row in answered.values("pk", *keys)}
    counts: dict = defaultdict(lambda: (0, 0))
    consultations = Consultation.objects.filter(pk__in=groups).select_related("service")
    for consultation in consultations:
        judged, met = answer_judgement(consultation, now)
        known, total_met = counts[groups[consultation.pk]]
        counts[groups[consultation.pk]] = (known + judged, total_met + met)
    return counts


def answer_judgement(consultation: Consultation, now: datetime) -> tuple[int, int]:
    """Return (1, 1) if the workflow answer target was met, (1, 0) if it was
    breached, and (0, 0) if the consultation has no stopped answer target."""
    answer = next(
        (
            d
            for d in consultation_deadlines(consultation, now=now)
            if d.target.name == "answer" and d.stopped_at is not None
        ),
        None,
    )
    if answer is None:
        return 0, 0
    return 1, int(not answer.breached)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _add_shares(row: dict) -> None:
    for name in ("processing", "first_response"):
        row.setdefault(f"{name}_n", 0)
        row.setdefault(f"{name}_median_s", None)
        row.setdefault(f"{name}_p90_s", None)
    row["deadline_share"] = _share(row["deadline_met"], row["deadline_known"])
    row["repeat_share"] = _share(row["repeats"], row["total"])
    row["closed_first_share"] = _share(row["closed_first"], row["closed"])
    row["satisfied_share"] = _share(row["satisfied"], row["total"])


def exported_key(key):
    """Return a row's key as the API and the exports give it.

    A period, kept as its start in the server's zone, becomes the date of
    its first day, such as 2021-03-01 for March or the Monday of a week.
    """
    if isinstance(key, datetime):
        return timezone.localtime(key).date() if timezone.is_aware(key) else key.date()
    return key


def period_label(start: datetime, granularity: str) -> str:
    """Return "2021-03" for a month or "2021-W09" for an ISO week."""
    start = timezone.localtime(start) if timezone.is_aware(start) else start
    if granularity == "week":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{start.year}-{start.month:02d}"


def label_rows(rows: list[dict], by: str | None, granularity: str) -> None:
    """Add a display `label` and a filter value `param` to each row."""
    keys = [row["key"] for row in rows]
    names = {}
    if by == "service":
        names = {
            s.code: localized_name(s.name, s.name_en)
            for s in Service.objects.filter(code__in=keys)
        }
    elif by == "department":
        names = {
            d.code: localized_name(d.name, d.name_en)
            for d in Department.objects.filter(code__in=keys)
        }
    elif by == "operator":
        names = {
            u.pk: u.display_name
            for u in User.objects.filter(pk__in=[k for k in keys if k])
        }
    for row in rows:
        key = row["key"]
        if by == "period":
            row["label"] = period_label(key, granularity)
        elif by == "channel":
            row["label"] = str(channel_label(key))
        else:
            row["label"] = names.get(key, key)
        row["param"] = key
        if key is None or key == "":
            row["label"] = "—"


def period_bounds(start: datetime, granularity: str):
    """Return the first and last day of the period that starts at `start`."""
    first = timezone.localtime(start).date() if timezone.is_aware(start) else start
    if granularity == "week":
        return first, first + timedelta(days=6)
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, following - timedelta(days=1)
