"""Operators and departments compared with their service mix taken into account,
and services or districts whose volume or delays grow against their own history."""

import math
import statistics
from collections import defaultdict
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.translation import gettext

from protokol.analytics import aggregates
from protokol.analytics.filters import Filters, day_start
from protokol.analytics.measures import (
    facts,
    group_expression,
    label_rows,
    median_times,
    period_bounds,
    period_label,
    statistics_rows,
    table_rows,
)
from protokol.errors import ValidationFailed

COMPARED = ("operator", "department")
TIMES = (("processing", "end_at"), ("first_response", "first_reply_at"))


def comparison_rows(user, filters: Filters, by: str) -> list[dict]:
    """Return the statistics of each operator or department with mix-adjusted indexes.

    For each time measure, `<measure>_index` is the group's median divided by
    the median it would have if each of its consultations took the median time
    of its service across every group in the selection. An index of 1.2 means
    20 % slower than usual for that mix of services, so a queue of hard
    services is not ranked below a queue of easy ones.

    Large selections read the group statistics, the service medians and the
    mixes from the daily aggregates: the mixes are exact counts, and the
    medians have the aggregates' precision.
    """
    served = _from_aggregates(user, filters, by)
    if served is None:
        rows = statistics_rows(user, filters, by)
        service_medians, mixes = _exact_mixes(user, filters, by)
    else:
        rows, service_medians, mixes = served
    for name, _ in TIMES:
        for row in rows:
            row[f"{name}_expected_s"], row[f"{name}_index"] = _index(
                mixes[name].get(row["key"], {}),
                service_medians[name],
                row[f"{name}_median_s"],
            )
    return rows


def _from_aggregates(user, filters: Filters, by: str) -> tuple | None:
    """Return the rows, service medians and mixes from the aggregates, or None."""
    groupings = {
        by: aggregates.EXTRAS,
        "service": aggregates.TIMES,
        (by, "service"): (),
    }
    tables = aggregates.counted_tables(user, filters, groupings, timezone.now())
    if tables is None:
        return None
    rows = table_rows(tables[by], by, filters.granularity)
    service_medians = {}
    mixes = {}
    for name, _ in TIMES:
        service_medians[name] = {
            service: row[f"{name}_median_s"]
            for service, row in tables["service"].items()
            if row[f"{name}_median_s"] is not None
        }
        mixes[name] = defaultdict(dict)
        for (key, service), row in tables[(by, "service")].items():
            if row[f"{name}_n"]:
                mixes[name][key][service] = row[f"{name}_n"]
    return rows, service_medians, mixes


def _exact_mixes(user, filters: Filters, by: str) -> tuple[dict, dict]:
    """Return the service medians and mixes of each time from the facts."""
    queryset = facts(user, filters).annotate(group=group_expression(by))
    service_medians = {}
    mixes = {}
    for name, end in TIMES:
        service_medians[name] = {
            service_id: median
            for (service_id,), (_, _, median) in median_times(
                queryset, ("service_id",), end
            ).items()
            if median is not None
        }
        mixes[name] = defaultdict(dict)
        for (key, service_id), (_, durations, _) in median_times(
            queryset, ("group", "service_id"), end
        ).items():
            if durations:
                mixes[name][key][service_id] = durations
    return service_medians, mixes


def _index(mix: dict, service_median: dict, observed: float | None):
    """Return the expected median of a service mix and the group's index.

    `mix` maps a service id to the number of the group's timed consultations.
    """
    weight = sum(mix.values())
    if not weight or observed is None:
        return None, None
    expected = (
        sum(count * service_median[service] for service, count in mix.items()) / weight
    )
    return expected, (observed / expected if expected else None)


PROBLEM_DIMENSIONS = ("service", "district")
DEFAULT_THRESHOLD = 1.5
DEFAULT_MIN_COUNT = 5


def problem_parameters(params) -> tuple[float, int]:
    """Return the threshold and minimum count from query parameters, or defaults."""
    threshold = _number(params, "threshold", DEFAULT_THRESHOLD, low=1.0)
    min_count = _number(params, "min_count", DEFAULT_MIN_COUNT, low=1)
    if min_count != int(min_count):
        raise ValidationFailed(
            gettext("min_count must be a whole number."), field="min_count"
        )
    return threshold, int(min_count)


def _number(params, name: str, default: float, low: float | int) -> float:
    value = params.get(name)
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < low:
        raise ValidationFailed(
            gettext("%(field)s must be a number of at least %(low)s.")
            % {"field": name, "low": low},
            field=name,
        )
    return number


def problem_areas(
    user,
    filters: Filters,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    min_count: int = DEFAULT_MIN_COUNT,
) -> dict:
    """Return the services and districts whose last period stands out.

    The last period is the latest one with any consultation in the selection,
    and the previous periods are every period from the earliest one with a
    consultation up to it. A group is listed when in that period it has at
    least `min_count` consultations and its count, or its median processing
    time, is at least `threshold` times the median of its own previous
    periods. Previous periods without consultations of the group, or
    without any consultation, count as 0 for the volume and are left out for
    the time.
    """
    series = _problem_series(user, filters)
    result = {
        "threshold": threshold,
        "min_count": min_count,
        "last_period": None,
        "previous_periods": [],
    }
    # Every consultation has a service, so these are the periods of the selection.
    periods = _every_period(
        sorted({period for _, period in series["service"]}), filters.granularity
    )
    if len(periods) < 2:
        for by in PROBLEM_DIMENSIONS:
            result[by] = []
        return result
    last = periods[-1]
    result["last_period"] = period_label(last, filters.granularity)
    result["last_period_start"] = last
    result["previous_periods"] = [
        period_label(p, filters.granularity) for p in periods[:-1]
    ]

    for by in PROBLEM_DIMENSIONS:
        by_group: dict = defaultdict(dict)
        for (key, period), numbers in series[by].items():
            by_group[key][period] = numbers
        rows = []
        for key, by_period in by_group.items():
            row = _problem_row(key, by_period, periods, threshold, min_count)
            if row is not None:
                rows.append(row)
        label_rows(rows, by, filters.granularity)
        rows.sort(key=lambda r: -(r["volume_ratio"] or 0))
        result[by] = rows
    return result


def _every_period(periods: list[datetime], granularity: str) -> list[datetime]:
    """Return the starts of every period from the first to the last of `periods`,
    including the periods between them that have no consultation."""
    if not periods:
        return []
    day, _ = period_bounds(periods[0], granularity)
    last, _ = period_bounds(periods[-1], granularity)
    every = []
    while day <= last:
        start = day_start(day)
        every.append(start)
        day = period_bounds(start, granularity)[1] + timedelta(days=1)
    return every


def _problem_series(user, filters: Filters) -> dict:
    """Return {dimension: {(group, period): (consultations, median processing
    seconds or None)}}, from the aggregates for a large selection."""
    groupings = {(by, "period"): ("processing",) for by in PROBLEM_DIMENSIONS}
    tables = aggregates.counted_tables(user, filters, groupings, timezone.now())
    if tables is not None:
        return {
            by: {
                key: (row["total"], row["processing_median_s"])
                for key, row in tables[(by, "period")].items()
                if row["total"]
            }
            for by in PROBLEM_DIMENSIONS
        }
    queryset = facts(user, filters).annotate(
        period=group_expression("period", filters.granularity)
    )
    series = {}
    for by in PROBLEM_DIMENSIONS:
        grouped = median_times(
            queryset.annotate(group=group_expression(by)), ("group", "period"), "end_at"
        )
        series[by] = {
            key: (count, median) for key, (count, _, median) in grouped.items()
        }
    return series


def _problem_row(key, by_period, periods, threshold, min_count) -> dict | None:
    """Return the evidence row of one group, or None when nothing grows.

    `by_period` maps each period to the group's (consultations, median
    processing seconds or None).
    """
    last, previous = periods[-1], periods[:-1]
    last_count, last_median = by_period.get(last, (0, None))
    if last_count < min_count:
        return None
    counts = [by_period.get(p, (0, None))[0] for p in previous]
    baseline_count = statistics.median(counts)
    volume_ratio = last_count / max(baseline_count, 1)

    medians = []
    for period in previous:
        median = by_period.get(period, (0, None))[1]
        if median is not None:
            medians.append(median)
    baseline_median = statistics.median(medians) if medians else None
    delay_ratio = (
        last_median / baseline_median
        if last_median is not None and baseline_median
        else None
    )
    growing_volume = volume_ratio >= threshold
    growing_delay = delay_ratio is not None and delay_ratio >= threshold
    if not (growing_volume or growing_delay):
        return None
    return {
        "key": key,
        "last_count": last_count,
        "previous_counts": counts,
        "baseline_count": baseline_count,
        "volume_ratio": volume_ratio,
        "volume_growing": growing_volume,
        "last_median_s": last_median,
        "previous_medians_s": medians,
        "baseline_median_s": baseline_median,
        "delay_ratio": delay_ratio,
        "delay_growing": growing_delay,
    }
