"""Daily aggregates of the statistics, so long ranges do not read every fact.

Tables (protokol.analytics.models, described in docs/analytics.md):

- DailyStats: the additive measures (counts, sums, deadlines met) of the
  consultations created on one day, per combination of keys. The keys are
  those that the statistics group, filter and scope by: service,
  department, district, channel, assignee and whether a retention policy
  archived the consultation. MonthStats sums an ended month of them.
- FutureDeadline: the open consultations whose deadline was still ahead at
  the refresh, so a query counts the overdue ones at its own time.
- DurationHistogram: the number of processing and first-response times in
  each bucket of BOUNDS, per day and keys. Once a month has ended, the
  refresh rolls its day rows up into month rows (RolledMonth), because day
  rows of durations are about as many as the consultations. MonthSlice sums
  the month rows over every key but one. WeekHistogram contains the same
  counts per ISO week whose days all lie in rolled-up months, for weekly
  periods, because weeks cut through months.
- StaleDay: creation days whose aggregates no longer match the facts.

Every write that changes the facts or the keys of a consultation calls
mark_stale in its transaction (refresh_facts and record_reply do it for their
callers). `protokol analytics-refresh --stale`, or the task
analytics.tasks.refresh_aggregates run by `protokol worker`, recomputes the
stale days from the facts.

A statistics query (counted) reads the clean days from the aggregates, and
the stale days and today from the facts, so its counts and shares equal the
direct computation exactly. Its medians and 90th percentiles come from the
merged histograms and are approximate: see PRECISION_RELATIVE. A selection
of fewer than SMALL_SELECTION consultations keeps the exact path
(measures.py), and so does any selection this module cannot serve (see
usable and counted).
"""

import bisect
import functools
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta

import structlog
from django.db import DEFAULT_DB_ALIAS, connections, router, transaction
from django.db.models import (
    CharField,
    Count,
    DateField,
    Exists,
    F,
    FloatField,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import (
    Cast,
    Coalesce,
    TruncDate,
    TruncMonth,
    TruncWeek,
)
from django.utils import timezone
from tqdm import tqdm

from protokol.accounts.models import Department
from protokol.analytics.filters import (
    DEFAULT_REPEAT_DAYS,
    Filters,
    analytics_scope,
    day_start,
)
from protokol.analytics.models import (
    DailyStats,
    DurationHistogram,
    FutureDeadline,
    MonthSlice,
    MonthStats,
    RolledMonth,
    StaleDay,
    WeekHistogram,
)
from protokol.catalog.models import Service
from protokol.consultations.models import Consultation, Status
from protokol.consultations.permissions import DEPARTMENT_ROLES, department_ids
from protokol.retention.access import has_archive_grant
from protokol.retention.models import Disposal, EndAction

log = structlog.get_logger(__name__)


def _bounds() -> tuple[int, ...]:
    """Return the lower bounds in seconds of the duration buckets.

    Bucket i (1 <= i < len(BOUNDS)) contains durations in [BOUNDS[i-1],
    BOUNDS[i]). Bucket 0 contains negative durations, and bucket
    len(BOUNDS) those of ten years or more. Up to 40 s a bucket is one second wide;
    above, each bound is at most 5 % above the one before.
    """
    bounds = list(range(0, 21))
    limit = 10 * 366 * 86400
    while bounds[-1] < limit:
        bounds.append(max(bounds[-1] + 1, math.floor(bounds[-1] * 1.05)))
    return tuple(bounds)


BOUNDS = _bounds()
# A percentile read from the histograms differs from the exact one by at
# most PRECISION_RELATIVE of the exact value plus PRECISION_SECONDS, for
# durations from 0 to 10 years. Each rank is estimated by the geometric
# middle of its bucket (the middle for the one-second buckets), which is
# within sqrt(1.05) - 1 < 2.5 % of any value of a 5 % bucket; the percentile
# interpolates between two such ranks as percentile_cont does.
PRECISION_RELATIVE = 0.025
PRECISION_SECONDS = 0.5

# A selection of fewer than this many consultations is computed exactly from
# the facts, percentiles included: at this size the exact query takes about
# 100 ms on PostgreSQL. The aggregates count the selection first, so a
# small selection costs one more query on the small DailyStats table.
SMALL_SELECTION = 20_000
# When more days than this would be read from the facts (after a bulk
# change that the refresh has not caught up with), the exact path is used.
MAX_FACT_DAYS = 62

KEYS = ("service_id", "department_id", "district", "channel", "assignee_id")
ADDITIVE = (
    "total",
    "closed",
    "deadline_known",
    "deadline_met",
    "returns",
    "returned",
    "disputed",
    "dispute_concluded",
    "dispute_reopened",
    "dispute_open",
    "repeats",
    "closed_first",
    "satisfied",
    "processing_n",
    "first_response_n",
)
KINDS = (
    (DurationHistogram.PROCESSING, "processing", "end_at"),
    (DurationHistogram.FIRST_RESPONSE, "first_response", "first_reply_at"),
)
# The names of the time columns, which a grouping may ask for.
TIMES = tuple(name for _, name, _ in KINDS)
# The columns beyond the additive counts that a grouping may ask for.
EXTRAS = (*TIMES, "overdue_open")
# The field of DurationHistogram that each MonthSlice dimension keeps.
SLICES = {
    "all": None,
    "service": "service__code",
    "department": "department__code",
    "district": "district",
    "channel": "channel",
    "operator": "assignee_id",
}


# -- buckets and percentiles


def bucket_of(seconds: float) -> int:
    """Return the bucket of a duration: the number of BOUNDS at or below it."""
    return bisect.bisect_right(BOUNDS, seconds)


def bucket_value(bucket: int) -> float:
    """Return the duration that stands for every duration of `bucket`."""
    if bucket <= 0:
        return 0.0
    if bucket >= len(BOUNDS):
        return float(BOUNDS[-1])
    low, high = BOUNDS[bucket - 1], BOUNDS[bucket]
    if high - low == 1:
        return low + 0.5
    return math.sqrt(low * high)


def histogram_percentile(counts: dict[int, int], fraction: float) -> float | None:
    """Return the percentile of a histogram, interpolated between the closest
    ranks like percentile_cont, each rank standing at its bucket's value."""
    return histogram_percentiles(counts, (fraction,))[0]


def histogram_percentiles(
    counts: dict[int, int], fractions: tuple[float, ...]
) -> list[float | None]:
    """Return histogram_percentile of each fraction, in one pass over the
    sorted buckets."""
    total = sum(counts.values())
    if not total:
        return [None] * len(fractions)
    positions = [(total - 1) * fraction for fraction in fractions]
    ranks = sorted(
        {math.floor(position) for position in positions}
        | {math.ceil(position) for position in positions}
    )
    values = {}
    seen = 0
    index = 0
    for bucket in sorted(counts):
        seen += counts[bucket]
        # Ranks below `seen` fall in this bucket.
        while index < len(ranks) and ranks[index] < seen:
            values[ranks[index]] = bucket_value(bucket)
            index += 1
        if index == len(ranks):
            break
    result = []
    for position in positions:
        low, high = math.floor(position), math.ceil(position)
        result.append(values[low] + (values[high] - values[low]) * (position - low))
    return result


class WidthBucket(Func):
    """PostgreSQL's width_bucket over BOUNDS: equal to bucket_of."""

    template = (
        "width_bucket(%(expressions)s, "
        f"ARRAY[{','.join(str(b) for b in BOUNDS)}]::numeric[])"
    )
    output_field = IntegerField()


def _seconds(end: str) -> Func:
    return Func(
        F(end) - F("created_at"),
        template="EXTRACT(EPOCH FROM %(expressions)s)",
        output_field=FloatField(),
    )


# -- marking


def local_day(moment: datetime) -> date:
    """Return the day of `moment` in the server's time zone, as aggregates count it."""
    return timezone.localtime(moment).date()


def mark_stale(
    ids: Iterable[int] = (),
    *,
    days: Iterable[date] = (),
    using: str = DEFAULT_DB_ALIAS,
) -> None:
    """Mark the creation days of the consultations `ids`, and `days`, stale.

    Call it in the write's transaction. The insert ignores days already
    marked, so writes do not wait on each other, only on a refresh that is
    deleting the same mark.
    """
    ids = list(ids)
    marked = set(days)
    if ids:
        moments = Consultation.objects.using(using).filter(pk__in=ids)
        marked |= {
            local_day(moment)
            for moment in moments.values_list("created_at", flat=True).distinct()
        }
    if marked:
        StaleDay.objects.using(using).bulk_create(
            [StaleDay(day=day) for day in sorted(marked)], ignore_conflicts=True
        )


def mark_range_stale(
    first: date | None, last: date | None, *, using: str = DEFAULT_DB_ALIAS
) -> int:
    """Mark every creation day with consultations in [first, last] stale."""
    consultations = Consultation.objects.using(using).order_by()
    if first:
        consultations = consultations.filter(created_at__gte=day_start(first))
    if last:
        consultations = consultations.filter(
            created_at__lt=day_start(last + timedelta(days=1))
        )
    days = set(
        consultations.annotate(day=TruncDate("created_at"))
        .values_list("day", flat=True)
        .distinct()
    )
    # Days that lost their last consultation keep aggregate rows until
    # recomputed.
    stored = DailyStats.objects.using(using)
    if first:
        stored = stored.filter(day__gte=first)
    if last:
        stored = stored.filter(day__lte=last)
    days |= set(stored.values_list("day", flat=True).distinct())
    mark_stale(days=days, using=using)
    return len(days)


# -- refresh


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def _source(consultations: QuerySet) -> QuerySet:
    from protokol.analytics.measures import fact_annotations

    archived = Disposal.objects.filter(
        consultation_id=OuterRef("pk"), end_action=EndAction.ARCHIVE
    )
    return consultations.order_by().annotate(
        **fact_annotations(DEFAULT_REPEAT_DAYS),
        k_archived=Exists(archived),
        **{f"k_{key}": F(key) for key in KEYS},
    )


def _stats_aggregates() -> dict:
    from protokol.analytics.measures import measure_q

    open_due = Q(end_at__isnull=True, deadline__isnull=False) & ~Q(
        status=Status.WITHDRAWN
    )
    return {
        "s_total": Count("pk"),
        "s_closed": Count("pk", filter=measure_q("closed")),
        "s_deadline_known": Count(
            "pk", filter=Q(end_at__isnull=False, deadline__isnull=False)
        ),
        "s_deadline_met": Count("pk", filter=measure_q("deadline_met")),
        "s_open_due": Count("pk", filter=open_due),
        "s_returns": Coalesce(Sum("f_returns"), Value(0)),
        "s_returned": Count("pk", filter=measure_q("returned")),
        "s_disputed": Count("pk", filter=measure_q("disputed")),
        "s_dispute_concluded": Count("pk", filter=measure_q("dispute_concluded")),
        "s_dispute_reopened": Count("pk", filter=measure_q("dispute_reopened")),
        "s_dispute_open": Count("pk", filter=measure_q("dispute_open")),
        "s_repeats": Count("pk", filter=measure_q("repeat")),
        "s_closed_first": Count("pk", filter=measure_q("closed_first")),
        "s_satisfied": Count("pk", filter=measure_q("satisfied")),
        "s_processing_n": Count("pk", filter=Q(end_at__isnull=False)),
        "s_first_response_n": Count("pk", filter=Q(first_reply_at__isnull=False)),
    }


def _key_columns() -> list[str]:
    return [f"{key}" for key in KEYS] + ["archived"]


def _key_aliases() -> list[str]:
    return [f"k_{key}" for key in KEYS] + ["k_archived"]


def _insert_select(model, columns: list[str], aliases: list[str], source, using):
    sql, params = source.query.get_compiler(using=using).as_sql()
    quote = connections[using].ops.quote_name
    statement = (
        f"INSERT INTO {quote(model._meta.db_table)} "
        f"({', '.join(quote(c) for c in columns)}) "
        f"SELECT {', '.join(quote(a) for a in aliases)} FROM ({sql}) aggregate_source"
    )
    with connections[using].cursor() as cursor:
        cursor.execute(statement, params)


def _in_days(days: list[date]) -> Q:
    """Return the filter of consultations created on one of `days`."""
    q = Q(pk__in=[])
    for first, last in _runs(days):
        q |= Q(
            created_at__gte=day_start(first),
            created_at__lt=day_start(last + timedelta(days=1)),
        )
    return q


def _runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Return the runs of consecutive days, as (first, last) pairs."""
    runs: list[list[date]] = []
    for day in sorted(set(days)):
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [(first, last) for first, last in runs]


def _refresh_daily(days: list[date], now: datetime, using: str) -> None:
    """Recompute the DailyStats rows of `days`."""
    from protokol.analytics.measures import answer_judgement

    DailyStats.objects.using(using).filter(day__in=days).delete()
    consultations = _source(
        Consultation.objects.using(using).filter(_in_days(days))
    ).annotate(k_day=TruncDate("created_at"))
    aggregates = _stats_aggregates()
    source = consultations.values("k_day", *_key_aliases()).annotate(**aggregates)
    columns = ["day", *_key_columns(), *(name[2:] for name in aggregates)]
    aliases = ["k_day", *_key_aliases(), *aggregates]
    _insert_select(DailyStats, columns, aliases, source, using)

    FutureDeadline.objects.using(using).filter(day__in=days).delete()
    open_due = Q(end_at__isnull=True, deadline__gte=now) & ~Q(status=Status.WITHDRAWN)
    future = consultations.filter(open_due).values("k_day", *_key_aliases(), "deadline")
    _insert_select(
        FutureDeadline,
        ["day", *_key_columns(), "deadline"],
        ["k_day", *_key_aliases(), "deadline"],
        future,
        using,
    )

    # Answered consultations without a stored deadline are judged by their
    # workflow answer target, as measures._workflow_deadlines does.
    unjudged = consultations.filter(deadline__isnull=True, end_at__isnull=False)
    judged: dict = defaultdict(lambda: [0, 0])
    ids = dict(unjudged.values_list("pk", "k_day"))
    for consultation in (
        Consultation.objects.using(using).filter(pk__in=ids).select_related("service")
    ):
        known, met = answer_judgement(consultation, now)
        key = (
            ids[consultation.pk],
            *(getattr(consultation, key) for key in KEYS),
        )
        archived = Disposal.objects.using(using).filter(
            consultation_id=consultation.pk, end_action=EndAction.ARCHIVE
        )
        key = (*key, archived.exists())
        judged[key][0] += known
        judged[key][1] += met
    for (day, *keys), (known, met) in judged.items():
        if known:
            DailyStats.objects.using(using).filter(
                day=day, archived=keys[-1], **dict(zip(KEYS, keys[:-1], strict=True))
            ).update(
                deadline_known=F("deadline_known") + known,
                deadline_met=F("deadline_met") + met,
            )


def _refresh_histograms(days: list[date], month: date | None, using: str) -> None:
    """Recompute the histogram rows of `days`, or of the whole `month`."""
    rows = DurationHistogram.objects.using(using)
    if month is not None:
        following = _next_month(month)
        rows.filter(start__gte=month, start__lt=following).delete()
        consultations = Consultation.objects.using(using).filter(
            created_at__gte=day_start(month), created_at__lt=day_start(following)
        )
        start = (Value(month), lambda created_at: month)
    else:
        rows.filter(month=False, start__in=days).delete()
        consultations = Consultation.objects.using(using).filter(_in_days(days))
        start = (TruncDate("created_at"), local_day)
    _insert_histograms(
        DurationHistogram,
        _source(consultations),
        "start",
        start,
        {"month": month is not None},
        using,
    )
    if month is not None:
        _refresh_slices(month, using)


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _weeks_of(month: date) -> Q:
    """Return the filter of the WeekHistogram rows of weeks that touch `month`."""
    return Q(week__gt=month - timedelta(days=7), week__lt=_next_month(month))


def _refresh_weeks(month: date, current: date, using: str) -> None:
    """Recompute the WeekHistogram rows of the ISO weeks that touch `month`
    and end before `current`, the first day of the current month.

    The rows are counted from the facts of all seven days, as the month rows
    are, and not summed from day rows. The day rows of an earlier rolled-up
    month are gone, and those of a stale day are out of date, while the facts
    are exact for every day at the refresh. A write to any day of the week
    marks that day stale, and the refresh of its month recomputes every week
    that touches the month. So a week that spans two ended months is
    rewritten by the roll-up of either of them. The weekly statistics read a
    week's rows only while both months are rolled up and none of its days
    is stale (see _Plan).
    """
    following = _next_month(month)
    WeekHistogram.objects.using(using).filter(_weeks_of(month)).delete()
    first = _week_start(month)
    end = min(_week_start(following - timedelta(days=1)) + timedelta(days=7), current)
    end = _week_start(end)
    if end <= first:
        return
    consultations = Consultation.objects.using(using).filter(
        created_at__gte=day_start(first), created_at__lt=day_start(end)
    )
    start = (
        Cast(TruncWeek("created_at"), DateField()),
        lambda created_at: _week_start(local_day(created_at)),
    )
    _insert_histograms(WeekHistogram, _source(consultations), "week", start, {}, using)


def _insert_histograms(
    model, source: QuerySet, field: str, start: tuple, fixed: dict, using: str
) -> None:
    """Insert the histogram rows of the consultations `source` into `model`.

    `field` names the model's date column of the span. `start` gives the
    first day of a consultation's span as an expression (PostgreSQL) and as a
    function of its creation time (SQLite, which buckets in Python).
    `fixed` gives the values of the model's other span columns.
    """
    expression, start_of = start
    if connections[using].vendor != "postgresql":
        _count_durations(model, source, field, start_of, fixed, using)
        return
    columns = [field, *fixed, *_key_columns(), "kind", "bucket", "n"]
    constants = {f"h_{name}": Value(value) for name, value in fixed.items()}
    aliases = ["h_start", *constants, *_key_aliases(), "h_kind", "h_bucket"]
    for kind, _, end in KINDS:
        grouped = (
            source.filter(**{f"{end}__isnull": False})
            .annotate(
                h_start=expression,
                **constants,
                h_kind=Value(kind),
                h_bucket=WidthBucket(_seconds(end)),
            )
            .values(*aliases)
            .annotate(h_n=Count("pk"))
        )
        _insert_select(model, columns, [*aliases, "h_n"], grouped, using)


def _refresh_slices(month: date, using: str) -> None:
    """Rebuild the MonthSlice rows of `month` from its histogram month rows."""
    MonthSlice.objects.using(using).filter(month=month).delete()
    rows = DurationHistogram.objects.using(using).filter(month=True, start=month)
    columns = ["month", "dimension", "key", "archived", "kind", "bucket", "n"]
    for dimension, field in SLICES.items():
        key = (
            Value(None, output_field=CharField())
            if field is None
            else Cast(F(field), CharField())
        )
        source = (
            rows.annotate(m_month=F("start"), m_dimension=Value(dimension), m_key=key)
            .values("m_month", "m_dimension", "m_key", "archived", "kind", "bucket")
            .annotate(m_n=Sum("n"))
            .order_by()
        )
        aliases = ["m_month", "m_dimension", "m_key", "archived", "kind", "bucket"]
        _insert_select(MonthSlice, columns, [*aliases, "m_n"], source, using)


def _count_durations(
    model, source: QuerySet, field: str, start_of, fixed: dict, using: str
) -> None:
    """Insert the histogram rows of `source`, bucketed in Python (SQLite)."""
    counts: Counter = Counter()
    values = source.values_list(
        "created_at", *_key_aliases(), "end_at", "first_reply_at"
    )
    for created_at, *keys, end_at, first_reply_at in values.iterator(chunk_size=2000):
        first = start_of(created_at)
        for (kind, _, _), end in zip(KINDS, (end_at, first_reply_at), strict=True):
            if end is not None:
                bucket = bucket_of((end - created_at).total_seconds())
                counts[(first, *keys, kind, bucket)] += 1
    model.objects.using(using).bulk_create(
        [
            model(
                **{field: first},
                **fixed,
                **dict(zip(KEYS, keys[:-1], strict=True)),
                archived=keys[-1],
                kind=kind,
                bucket=bucket,
                n=n,
            )
            for (first, *keys, kind, bucket), n in counts.items()
        ],
        batch_size=500,
    )


def _refresh_month_stats(month: date, using: str) -> None:
    """Rebuild the MonthStats rows of `month` from its DailyStats rows."""
    MonthStats.objects.using(using).filter(month=month).delete()
    rows = DailyStats.objects.using(using).filter(
        day__gte=month, day__lt=_next_month(month)
    )
    keys = _key_columns()
    source = (
        rows.annotate(m_month=Value(month))
        .values("m_month", *keys)
        .annotate(**{f"m_{name}": Sum(name) for name in (*ADDITIVE, "open_due")})
        .order_by()
    )
    sums = [f"m_{name}" for name in (*ADDITIVE, "open_due")]
    columns = ["month", *keys, *(name[2:] for name in sums)]
    _insert_select(MonthStats, columns, ["m_month", *keys, *sums], source, using)


def refresh_stale(
    *,
    now: datetime | None = None,
    using: str = DEFAULT_DB_ALIAS,
    progress: bool = False,
) -> int:
    """Recompute the aggregates of the stale days, and roll up ended months.

    Each month commits on its own. The stale marks a month's refresh reads
    are deleted before the facts are read, so a write that commits meanwhile
    marks its day again and the next refresh picks it up. Returns the number
    of days recomputed.
    """
    now = now or timezone.now()
    current = _month_start(timezone.localdate(now))
    stale = sorted(StaleDay.objects.using(using).values_list("day", flat=True))
    rolled = set(RolledMonth.objects.using(using).values_list("month", flat=True))
    months: dict[date, list[date]] = defaultdict(list)
    for day in stale:
        months[_month_start(day)].append(day)
    # Ended months still kept as day rows are rolled up.
    ended = DurationHistogram.objects.using(using).filter(
        month=False, start__lt=current
    )
    for start in ended.values_list("start", flat=True).distinct():
        months.setdefault(_month_start(start), [])

    bar = tqdm(
        total=len(stale),
        unit="day",
        desc="Refreshing analytics aggregates",
        file=sys.stderr,
        disable=None if progress else True,
    )
    for month in sorted(months):
        days = months[month]
        with transaction.atomic(using=using):
            StaleDay.objects.using(using).filter(day__in=days).delete()
            if days:
                _refresh_daily(days, now, using)
            if month < current:
                if days or month not in rolled:
                    _refresh_histograms(days, month, using)
                    _refresh_month_stats(month, using)
                    _refresh_weeks(month, current, using)
                    RolledMonth.objects.using(using).get_or_create(month=month)
            else:
                RolledMonth.objects.using(using).filter(month=month).delete()
                MonthSlice.objects.using(using).filter(month=month).delete()
                MonthStats.objects.using(using).filter(month=month).delete()
                WeekHistogram.objects.using(using).filter(_weeks_of(month)).delete()
                _refresh_histograms(days, None, using)
        bar.update(len(days))
    bar.close()
    log.info("analytics_aggregates_refreshed", days=len(stale), months=len(months))
    return len(stale)


# -- reading


def usable(filters: Filters) -> bool:
    """Return whether the aggregates may serve a selection: they count
    repeats for the default repeat window only."""
    return filters.repeat_days == DEFAULT_REPEAT_DAYS


def aggregate_scope(user) -> Q:
    """Return analytics_scope(user) over the aggregate rows' keys."""
    analytics_scope(user)
    if user.role not in DEPARTMENT_ROLES:
        return Q(pk__in=[])
    q = Q() if has_archive_grant(user) else Q(archived=False)
    if not user.all_departments:
        q &= Q(department_id__in=department_ids(user))
    return q


def _filter_q(filters: Filters) -> Q:
    """Return filter_q(filters) over the aggregate rows' keys, without dates."""
    q = Q()
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


def dimensions(by) -> tuple:
    """Return the dimensions of a grouping: None for the total, one
    dimension name, or a tuple of them whose groups are tuples of keys."""
    return by if isinstance(by, tuple) else (by,)


def _weekly(by, granularity: str) -> bool:
    return granularity == "week" and "period" in dimensions(by)


def _group_fields(by, granularity: str, day_field: str, *, span: str = "day") -> dict:
    """Return the annotations that name an aggregate row's group, g0, g1, …

    Services and departments are grouped by id, which _GroupKeys turns into
    codes. A period is a date: `day_field` itself when each row covers a
    whole period, as when `span` (the rows' "day", "week" or "month") equals
    the granularity.
    """
    fields = {}
    for index, dimension in enumerate(dimensions(by)):
        if dimension is None:
            expression = Value("all")
        elif dimension == "period" and span == granularity:
            expression = F(day_field)
        elif dimension == "period":
            trunc = TruncWeek if granularity == "week" else TruncMonth
            # A date, which a plain cursor reads faster than a timestamp.
            expression = Cast(trunc(day_field), DateField())
        else:
            expression = {
                "service": F("service_id"),
                "department": F("department_id"),
                "district": F("district"),
                "channel": F("channel"),
                "operator": F("assignee_id"),
            }[dimension]
        fields[f"g{index}"] = expression
    return fields


def _codes(dimension: str) -> dict[int, str]:
    """Return the codes of the services or departments by id."""
    model = Service if dimension == "service" else Department
    return dict(model.objects.values_list("pk", "code"))


@functools.lru_cache(maxsize=4096)
def _period_start(key: date, zone: str) -> datetime:
    """Return day_start(key) in `zone`, the current zone, cached per day."""
    return day_start(key)


class _GroupKeys:
    """Converts the group values of aggregate rows into the keys that the
    facts path gives, once per distinct value."""

    def __init__(self, by):
        self.dimensions = dimensions(by)
        self.composite = isinstance(by, tuple)
        self.zone = timezone.get_current_timezone_name()
        self.known: dict = {}
        self.codes = {
            dimension: _codes(dimension)
            for dimension in self.dimensions
            if dimension in ("service", "department")
        }

    def __call__(self, values: tuple):
        key = self.known.get(values)
        if key is None and values not in self.known:
            converted = tuple(
                self._convert(dimension, value)
                for dimension, value in zip(self.dimensions, values, strict=True)
            )
            key = converted if self.composite else converted[0]
            self.known[values] = key
        return key

    def _convert(self, dimension, value):
        if dimension in self.codes:
            return self.codes[dimension][value]
        if dimension == "period" and value is not None:
            if isinstance(value, datetime):
                value = value.date()
            elif isinstance(value, str):
                # SQLite returns dates as text to a plain cursor.
                value = date.fromisoformat(value[:10])
            return _period_start(value, self.zone)
        return value


def _fetch(queryset: QuerySet) -> list[tuple]:
    """Return the rows of a values_list query through a plain cursor.

    The histogram reads return thousands of rows, and Django's row
    conversion took about five times as long as the query. Groups still need
    _GroupKeys, which accepts the plain cursor's values.
    """
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def counted(
    user, filters: Filters, by, now: datetime, *, percentiles: bool = True
) -> dict | None:
    """Return the counts and time columns of each group from the aggregates,
    as measures.exact_counted does from the facts, or None when the selection
    is small or the aggregates cannot serve it. See counted_tables."""
    extras = EXTRAS if percentiles else ("overdue_open",)
    tables = counted_tables(user, filters, {by: extras}, now)
    return None if tables is None else tables[by]


def counted_tables(
    user, filters: Filters, groupings: dict, now: datetime
) -> dict | None:
    """Return counted() of each grouping, all read from one snapshot, or None
    when the aggregates cannot serve every one of them.

    `groupings` maps a grouping (None, a dimension or a tuple of dimensions)
    to the EXTRAS its rows need: the TIMES whose median and 90th percentile
    they show, and "overdue_open". Every grouping splits the same
    selection, so the total (None) is summed from another grouping's counts
    and histograms when there is one, which gives the same numbers as
    reading it on its own.
    """
    if not usable(filters):
        return None
    scope = aggregate_scope(user)
    today = timezone.localdate(now)
    using = router.db_for_read(DailyStats)
    outer = connections[using].in_atomic_block
    with transaction.atomic(using=using):
        if not outer:
            _repeatable_read_first(using)
        read = _Reader(user, filters, now, scope, today, using)
        return read.tables(groupings)


def _repeatable_read_first(using: str) -> None:
    """Read the aggregate tables from one snapshot on PostgreSQL, so a refresh
    that commits during the query is seen whole or not at all."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


def _day_range(queryset: QuerySet, field: str, first, last, today) -> QuerySet:
    if first:
        queryset = queryset.filter(**{f"{field}__gte": first})
    if last:
        queryset = queryset.filter(**{f"{field}__lte": last})
    return queryset.filter(**{f"{field}__lt": today})


def _empty_counts() -> dict:
    return dict.fromkeys(ADDITIVE, 0) | {"overdue_open": 0}


def _empty_histograms() -> dict:
    return {kind: Counter() for kind, _, _ in KINDS}


class _Plan:
    """The sources of a selection's days: aggregate rows or facts.

    Counts: ended months without a stale day that the range covers whole
    (`whole_months`) from MonthStats, the stale days (`count_days`) and
    today from the facts, and the other days from DailyStats. Durations:
    the whole months, or for a weekly grouping the whole weeks of rolled-up
    months (`whole_weeks`), from their histogram rows. `duration_days`
    (stale days and the uncovered days of rolled months) and today come from
    the facts, and the other days from day rows.
    """

    def __init__(self, filters: Filters, today: date, using: str, weekly: bool):
        first, last = filters.date_from, filters.date_to
        stale = set(
            _day_range(
                StaleDay.objects.using(using), "day", first, last, today
            ).values_list("day", flat=True)
        )
        self.count_days = sorted(stale)
        rolled = set(RolledMonth.objects.using(using).values_list("month", flat=True))
        # Weeks cut through months, so a weekly grouping reads week rows.
        self.whole_months = set()
        self.whole_weeks = set()
        if weekly:
            self.whole_weeks = _whole_weeks(rolled, stale, first, last, today)
        else:
            self.whole_months = {
                month
                for month in rolled
                if (first is None or first <= month)
                and (last is None or _next_month(month) - timedelta(days=1) <= last)
                and _next_month(month) <= today
                and not any(_month_start(day) == month for day in stale)
            }
        self.duration_days = set(stale)
        for month in rolled - self.whole_months:
            day = max(month, first) if first else month
            end = _next_month(month) - timedelta(days=1)
            if last:
                end = min(end, last)
            while day <= end and day < today:
                if _week_start(day) not in self.whole_weeks:
                    self.duration_days.add(day)
                day += timedelta(days=1)

    def served(self) -> bool:
        """Return whether few enough days come from the facts."""
        return (
            len(self.count_days) <= MAX_FACT_DAYS
            and len(self.duration_days) <= MAX_FACT_DAYS
        )


def _whole_weeks(
    rolled: set[date], stale: set[date], first, last, today: date
) -> set[date]:
    """Return the Mondays of the weeks within [first, last] and before
    `today` whose days all lie in the `rolled` months and none is `stale`.

    Only such weeks have current WeekHistogram rows (see _refresh_weeks).
    """
    stale_weeks = {_week_start(day) for day in stale}
    weeks = set()
    for month in rolled:
        monday = _week_start(month)
        while monday < _next_month(month):
            sunday = monday + timedelta(days=6)
            if (
                (first is None or first <= monday)
                and (last is None or sunday <= last)
                and sunday < today
                and _month_start(monday) in rolled
                and _month_start(sunday) in rolled
                and monday not in stale_weeks
            ):
                weeks.add(monday)
            monday += timedelta(days=7)
    return weeks


class _Reader:
    """Reads the groups of one selection from the aggregates."""

    def __init__(self, user, filters: Filters, now, scope: Q, today, using: str):
        self.user = user
        self.filters = filters
        self.now = now
        self.scope = scope
        self.today = today
        self.using = using
        self.plans: dict[bool, _Plan] = {}

    def plan(self, by) -> _Plan:
        weekly = _weekly(by, self.filters.granularity)
        if weekly not in self.plans:
            self.plans[weekly] = _Plan(self.filters, self.today, self.using, weekly)
        return self.plans[weekly]

    def tables(self, groupings: dict) -> dict | None:
        # The total is summed from a grouping with the time columns it needs.
        needed = set(groupings.get(None, ()))
        source = next(
            (by for by in groupings if by is not None and needed <= set(groupings[by])),
            None,
        )
        read = {}
        for by in groupings:
            if by is None and source is not None:
                continue
            part = self.read(by, groupings[by])
            if part is None:
                return None
            read[by] = part
        if None in groupings and source is not None:
            read[None] = _summed(*read[source])
        return {by: _finished(*read[by], groupings[by]) for by in groupings}

    def read(self, by, extras: tuple[str, ...]) -> tuple | None:
        """Return (counts, histograms) by group, or None when not served."""
        plan = self.plan(by)
        if not plan.served():
            return None
        result: dict = defaultdict(_empty_counts)
        self._add_counts(result, by, plan, overdue="overdue_open" in extras)
        if sum(totals["total"] for totals in result.values()) < SMALL_SELECTION:
            return None
        if by is None:
            # One total row even for an empty selection, as the exact query gives.
            result["all"]
        histograms: dict = defaultdict(_empty_histograms)
        kinds = [kind for kind, name, _ in KINDS if name in extras]
        if kinds:
            self._add_durations(histograms, by, plan, kinds)
        return dict(result), histograms

    def _rows(self, model) -> QuerySet:
        rows = model.objects.using(self.using)
        return rows.filter(self.scope).filter(_filter_q(self.filters))

    def _add_counts(self, result: dict, by, plan: _Plan, *, overdue: bool) -> None:
        filters, today = self.filters, self.today
        first, last = filters.date_from, filters.date_to
        fields = _group_fields(by, filters.granularity, "day")
        names = list(fields)
        keys = _GroupKeys(by)

        # Whole clean months from MonthStats, the other clean days from DailyStats.
        whole = sorted(plan.whole_months)
        months = self._rows(MonthStats).filter(month__in=whole)
        days = (
            _day_range(self._rows(DailyStats), "day", first, last, today)
            .exclude(day__in=plan.count_days)
            .filter(_outside_months(whole))
        )
        month_fields = _group_fields(by, filters.granularity, "month", span="month")
        sums = ADDITIVE
        for rows, group in ((months, month_fields), (days, fields)):
            grouped = (
                rows.annotate(**group)
                .values(*names)
                .annotate(
                    **{f"a_{name}": Sum(name) for name in sums},
                    a_overdue_open=Sum("open_due"),
                )
                .order_by()
                .values_list(*names, *(f"a_{name}" for name in sums), "a_overdue_open")
            )
            width = len(names)
            for row in grouped:
                totals = result[keys(row[:width])]
                for name, value in zip(
                    (*sums, "overdue_open"), row[width:], strict=True
                ):
                    totals[name] += value or 0

        if overdue:
            self._subtract_ahead(result, by, plan)

        # Stale days and today from the facts.
        from protokol.analytics.measures import exact_counted

        queryset, fact_names = self._facts(by, plan.count_days)
        counted = exact_counted(queryset, self.now, percentiles=False, keys=fact_names)
        for key, row in counted.items():
            totals = result[key]
            for name in (*ADDITIVE, "overdue_open"):
                totals[name] += row.get(name) or 0

    def _subtract_ahead(self, result: dict, by, plan: _Plan) -> None:
        """Subtract the open consultations whose deadline is still ahead
        from overdue_open, as they are not overdue yet."""
        filters = self.filters
        fields = _group_fields(by, filters.granularity, "day")
        names = list(fields)
        keys = _GroupKeys(by)
        ahead = (
            _day_range(
                self._rows(FutureDeadline),
                "day",
                filters.date_from,
                filters.date_to,
                self.today,
            )
            .exclude(day__in=plan.count_days)
            .filter(deadline__gte=self.now)
            .annotate(**fields)
            .values(*names)
            .annotate(count=Count("pk"))
            .order_by()
            .values_list(*names, "count")
        )
        for row in ahead:
            result[keys(row[:-1])]["overdue_open"] -= row[-1]

    def _facts(self, by, days) -> tuple[QuerySet, tuple[str, ...]]:
        """Return the facts of `days` and today, annotated with their group."""
        from protokol.analytics.measures import facts, group_annotations

        live = _in_days(days) | Q(created_at__gte=day_start(self.today))
        queryset = facts(self.user, self.filters).filter(
            live & _facts_days(days, self.today)
        )
        annotations = group_annotations(by, self.filters.granularity)
        return queryset.annotate(**annotations), tuple(annotations)

    def _add_durations(self, histograms: dict, by, plan: _Plan, kinds: list) -> None:
        """Add the duration buckets of `kinds` of each group: month or week
        rows, day rows, and the remaining days from the facts."""
        filters, today = self.filters, self.today
        whole = sorted(plan.whole_months)
        hist = self._rows(DurationHistogram).filter(kind__in=kinds)

        parts = []
        if whole and _sliceable(self.user, filters, by):
            _add_slices(histograms, self.user, by, whole, kinds, self.using)
        elif whole:
            parts.append((hist.filter(month=True, start__in=whole), "month", "start"))
        if plan.whole_weeks:
            weeks = self._rows(WeekHistogram).filter(
                kind__in=kinds, week__in=sorted(plan.whole_weeks)
            )
            parts.append((weeks, "week", "week"))
        days = _day_range(
            hist.filter(month=False),
            "start",
            filters.date_from,
            filters.date_to,
            today,
        ).exclude(start__in=sorted(plan.duration_days))
        parts.append((days, "day", "start"))

        keys = _GroupKeys(by)
        for part, span, field in parts:
            fields = _group_fields(by, filters.granularity, field, span=span)
            names = list(fields)
            width = len(names)
            grouped = (
                part.annotate(**fields)
                .values(*names, "kind", "bucket")
                .annotate(count=Sum("n"))
                .order_by()
                .values_list(*names, "kind", "bucket", "count")
            )
            for row in _fetch(grouped):
                kind, bucket, count = row[width:]
                histograms[keys(row[:width])][kind][bucket] += count
        queryset, fact_names = self._facts(by, sorted(plan.duration_days))
        for key, kind, bucket, count in fact_buckets(queryset, fact_names, kinds):
            histograms[key][kind][bucket] += count


def _summed(result: dict, histograms: dict) -> tuple[dict, dict]:
    """Return the counts and histograms of every group added into one."""
    totals = _empty_counts()
    for row in result.values():
        for name, value in row.items():
            totals[name] += value
    merged = _empty_histograms()
    for counts in histograms.values():
        for kind, buckets in counts.items():
            merged[kind].update(buckets)
    return {"all": totals}, {"all": merged}


def _finished(result: dict, histograms: dict, extras: tuple[str, ...]) -> dict:
    """Return the counts with the time columns of `extras` of each group
    added, and without overdue_open unless `extras` names it."""
    for key, totals in result.items():
        if "overdue_open" not in extras:
            del totals["overdue_open"]
        for kind, name, _ in KINDS:
            if name not in extras:
                continue
            counts = histograms[key][kind] if key in histograms else {}
            median, p90 = histogram_percentiles(counts, (0.5, 0.9))
            totals[f"{name}_median_s"] = median
            totals[f"{name}_p90_s"] = p90
    return result


def _outside_months(months: list[date]) -> Q:
    """Return the filter of the days outside the sorted `months`, as ranges
    that an index on `day` reads."""
    q = Q(pk__in=[])
    start = date.min
    for month in months:
        if start < month:
            q |= Q(day__gte=start, day__lt=month)
        start = _next_month(month)
    return q | Q(day__gte=start)


def _sliceable(user, filters: Filters, by) -> bool:
    """Return whether MonthSlice rows serve a grouping for `user`: a single
    dimension, no filter on a key, and a user who sees every department."""
    if isinstance(by, tuple):
        return False
    if filters.service or filters.department or filters.district:
        return False
    if filters.channel or filters.operator is not None:
        return False
    return user.role in DEPARTMENT_ROLES and user.all_departments


def _add_slices(
    histograms: dict, user, by, months: list[date], kinds: list, using: str
) -> None:
    """Add the MonthSlice counts of `months` and `kinds` to `histograms` by group."""
    rows = MonthSlice.objects.using(using).filter(
        dimension="all" if by in (None, "period") else by,
        month__in=months,
        kind__in=kinds,
    )
    if not has_archive_grant(user):
        rows = rows.filter(archived=False)
    group = "month" if by == "period" else "key"
    grouped = (
        rows.values(group, "kind", "bucket")
        .annotate(count=Sum("n"))
        .order_by()
        .values_list(group, "kind", "bucket", "count")
    )
    keys = _GroupKeys(by)
    for key, kind, bucket, count in _fetch(grouped):
        if by is None:
            key = "all"
        elif by == "period":
            key = keys((key,))
        elif by == "operator" and key is not None:
            key = int(key)
        histograms[key][kind][bucket] += count


def _facts_days(days: Iterable[date], today: date) -> Q:
    """Return the same days on the facts' copy of the creation time."""
    q = Q(facts__created_at__gte=day_start(today))
    for first, last in _runs(days):
        q |= Q(
            facts__created_at__gte=day_start(first),
            facts__created_at__lt=day_start(last + timedelta(days=1)),
        )
    return q


def fact_buckets(
    queryset: QuerySet, keys: tuple[str, ...] = ("group",), kinds=None
) -> list:
    """Return (group, kind, bucket, count) of the durations of `kinds` (all
    by default) of `queryset`, whose group is named by the annotations `keys`."""
    from protokol.analytics.measures import row_key

    selected = [(kind, end) for kind, _, end in KINDS if kinds is None or kind in kinds]
    if connections[queryset.db].vendor == "postgresql":
        found = []
        for kind, end in selected:
            grouped = (
                queryset.filter(**{f"{end}__isnull": False})
                .annotate(h_bucket=WidthBucket(_seconds(end)))
                .values(*keys, "h_bucket")
                .annotate(h_n=Count("pk"))
                .order_by()
            )
            found += [
                (row_key(row, keys), kind, row["h_bucket"], row["h_n"])
                for row in grouped
            ]
        return found
    counts: Counter = Counter()
    rows = queryset.values_list(*keys, "created_at", "end_at", "first_reply_at")
    width = len(keys)
    for row in rows.iterator(chunk_size=2000):
        key = row[0] if width == 1 else tuple(row[:width])
        created_at, end_at, first_reply_at = row[width:]
        ends = {"end_at": end_at, "first_reply_at": first_reply_at}
        for kind, end in selected:
            moment = ends[end]
            if moment is not None:
                seconds = (moment - created_at).total_seconds()
                counts[(key, kind, bucket_of(seconds))] += 1
    return [(*key, count) for key, count in counts.items()]
