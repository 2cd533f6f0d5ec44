"""Operators and departments compared with their service mix taken into account,
and services or districts whose volume or delays grow against their own history."""

import math
import statistics
from collections import defaultdict

from django.utils.translation import gettext

from protokol.analytics.filters import Filters
from protokol.analytics.measures import (
    distribution,
    facts,
    group_expression,
    label_rows,
    period_label,
    statistics_rows,
)
from protokol.errors import ValidationFailed

COMPARED = ("operator", "department")
TIMES = ("processing", "first_response")


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
    samples = {name: defaultdict(list) for name in TIMES}
    per_group = {name: defaultdict(lambda: defaultdict(list)) for name in TIMES}
    values = queryset.values_list(
        "group", "service_id", "created_at", "end_at", "first_reply_at"
    )
    for key, service_id, created_at, end_at, first_reply_at in values.iterator(
        chunk_size=2000
    ):
        for name, moment in (
            ("processing", end_at),
            ("first_response", first_reply_at),
        ):
            if moment is None:
                continue
            seconds = (moment - created_at).total_seconds()
            samples[name][service_id].append(seconds)
            per_group[name][key][service_id].append(seconds)

    for name in TIMES:
        service_median = {
            service: statistics.median(values)
            for service, values in samples[name].items()
        }
        for row in rows:
            mix = per_group[name].get(row["key"], {})
            row[f"{name}_expected_s"], row[f"{name}_index"] = _index(
                mix, service_median, row[f"{name}_median_s"]
            )
    return rows


def _index(mix: dict, service_median: dict, observed: float | None):
    weight = sum(len(values) for values in mix.values())
    if not weight or observed is None:
        return None, None
    expected = (
        sum(len(values) * service_median[service] for service, values in mix.items())
        / weight
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
        series: dict = defaultdict(lambda: defaultdict(list))
        values = queryset.annotate(group=group_expression(by)).values_list(
            "group", "period", "created_at", "end_at"
        )
        for key, period, created_at, end_at in values.iterator(chunk_size=2000):
            seconds = None if end_at is None else (end_at - created_at).total_seconds()
            series[key][period].append(seconds)
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
    last, previous = periods[-1], periods[:-1]
    last_values = by_period.get(last, [])
    if len(last_values) < min_count:
        return None

    counts = [len(by_period.get(p, [])) for p in previous]
    baseline_count = statistics.median(counts)
    volume_ratio = len(last_values) / max(baseline_count, 1)

    medians = []
    for period in previous:
        _, median, _ = distribution(
            s for s in by_period.get(period, []) if s is not None
        )
        if median is not None:
            medians.append(median)
    _, last_median, _ = distribution(s for s in last_values if s is not None)
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
        "last_count": len(last_values),
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
