"""Operators and departments compared with their service mix taken into account,
and services or districts whose volume or delays grow against their own history."""

import math
import statistics
from collections import defaultdict

from django.utils.translation import gettext

from protokol.analytics.filters import Filters
from protokol.analytics.measures import (
    facts,
    group_expression,
    label_rows,
    median_times,
    period_label,
    statistics_rows,
)
from protokol.errors import ValidationFailed

COMPARED = ("operator", "department")


def comparison_rows(user, filters: Filters, by: str) -> list[dict]:
    """Return the statistics of each operator or department with mix-adjusted indexes.

    For each time measure, `<measure>_index` is the group's median divided by
    the median it would have if each of its consultations took the median time
    of its service across every group in the selection. An index of 1.2 means
    20 % slower than usual for that mix of services, so a queue of hard
    services is not ranked below a queue of easy ones.
    """
    rows = statistics_rows(user, filters, by)
    queryset = facts(user, filters).annotate(group=group_expression(by))

    for name, end in (("processing", "end_at"), ("first_response", "first_reply_at")):
        service_median = {
            service_id: median
            for (service_id,), (_, _, median) in median_times(
                queryset, ("service_id",), end
            ).items()
            if median is not None
        }
        mixes: dict = defaultdict(dict)
        for (key, service_id), (_, durations, _) in median_times(
            queryset, ("group", "service_id"), end
        ).items():
            if durations:
                mixes[key][service_id] = durations
        for row in rows:
            row[f"{name}_expected_s"], row[f"{name}_index"] = _index(
                mixes.get(row["key"], {}), service_median, row[f"{name}_median_s"]
            )
    return rows


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
    min_count = _number(params, "min_count", DEFAULT_MIN_COUNT, low=1.0)
    if min_count != int(min_count):
        raise ValidationFailed(
            gettext("min_count must be a whole number."), field="min_count"
        )
    return threshold, int(min_count)


def _number(params, name: str, default: float, low: float) -> float:
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

    The last period is the latest one with any consultation in the selection.
    A group is listed when in that period it has at least `min_count`
    consultations and its count, or its median processing time, is at least
    `threshold` times the median of its own previous periods. Previous periods
    without consultations count as 0 for the volume and are left out for the
    time.
    """
    queryset = facts(user, filters).annotate(
        period=group_expression("period", filters.granularity)
    )
    result = {
        "threshold": threshold,
        "min_count": min_count,
        "last_period": None,
        "previous_periods": [],
    }
    periods = sorted(set(queryset.values_list("period", flat=True)))
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
        series: dict = defaultdict(dict)
        grouped = median_times(
            queryset.annotate(group=group_expression(by)), ("group", "period"), "end_at"
        )
        for (key, period), (count, _, median) in grouped.items():
            series[key][period] = (count, median)
        rows = []
        for key, by_period in series.items():
            row = _problem_row(key, by_period, periods, threshold, min_count)
            if row is not None:
                rows.append(row)
        label_rows(rows, by, filters.granularity)
        rows.sort(key=lambda r: -(r["volume_ratio"] or 0))
        result[by] = rows
    return result


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
