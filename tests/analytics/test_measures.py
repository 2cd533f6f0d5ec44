"""Measures, the mix-adjusted comparison and problem areas on small made data."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from protokol.analytics.comparison import comparison_rows, problem_areas
from protokol.analytics.facts import refresh_facts
from protokol.analytics.filters import Filters
from protokol.analytics.measures import percentile, statistics_rows
from protokol.consultations import services
from protokol.consultations.models import Consultation, Status

pytestmark = pytest.mark.django_db

MOSCOW = ZoneInfo("Europe/Moscow")


def _made(demo, service_code: str, created_at: datetime, days_to_close=None):
    """Create a consultation through the service, then move its dates into place."""
    consultation = services.create_consultation(
        demo["citizen"], service_code=service_code, subject="Вопрос", description="?"
    )
    changes = {"created_at": created_at, "deadline": created_at + timedelta(days=10)}
    if days_to_close is not None:
        changes.update(
            status=Status.ARCHIVED,
            closed_at=created_at + timedelta(days=days_to_close),
        )
    Consultation.objects.filter(pk=consultation.pk).update(**changes)
    # The update bypasses the service layer, which keeps the facts current.
    refresh_facts([consultation.pk])
    return consultation


def _month(year: int, month: int, day: int = 10) -> datetime:
    return datetime(year, month, day, 12, tzinfo=MOSCOW)


def test_percentile_interpolates():
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([0.0, 10.0], 0.9) == 9.0
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([], 0.9) is None


def test_processing_and_deadline(demo):
    for days in (2, 4, 30):
        _made(demo, "GEN", _month(2021, 1), days_to_close=days)
    _made(demo, "GEN", _month(2021, 1))

    (row,) = statistics_rows(demo["supervisor"], Filters(), None)

    assert row["total"] == 4
    assert row["processing_n"] == 3
    assert row["processing_median_s"] == 4 * 86400
    assert row["deadline_known"] == 3
    assert row["deadline_met"] == 2
    assert row["overdue_open"] == 1
    assert row["closed_first"] == 3
    assert row["closed_first_share"] == 1.0


def test_repeat_requests_use_window(demo):
    _made(demo, "GEN", _month(2021, 1, 1))
    _made(demo, "GEN", _month(2021, 1, 20))
    _made(demo, "GEN", _month(2021, 6, 1))

    (row,) = statistics_rows(demo["supervisor"], Filters(repeat_days=30), None)
    assert row["repeats"] == 1

    (row,) = statistics_rows(demo["supervisor"], Filters(repeat_days=365), None)
    assert row["repeats"] == 2


def test_periods_group_by_month(demo):
    _made(demo, "GEN", _month(2021, 1))
    _made(demo, "GEN", _month(2021, 2))
    _made(demo, "GEN", _month(2021, 2, 20))

    rows = statistics_rows(demo["supervisor"], Filters(), "period")

    assert [(r["label"], r["total"]) for r in rows] == [("2021-01", 1), ("2021-02", 2)]


def test_index_ignores_service_mix(demo):
    # Department A answers only the slow GEN, B only the fast PAS: each is as
    # fast as its service allows, so both indexes are 1 though A's median is
    # ten times B's.
    for days in (10, 20):
        _made(demo, "GEN", _month(2021, 1), days_to_close=days)
    for days in (1, 2):
        _made(demo, "PAS", _month(2021, 1), days_to_close=days)

    rows = {
        r["key"]: r
        for r in comparison_rows(demo["supervisor"], Filters(), "department")
    }

    assert rows["A"]["processing_median_s"] == 10 * rows["B"]["processing_median_s"]
    assert rows["A"]["processing_index"] == pytest.approx(1.0)
    assert rows["B"]["processing_index"] == pytest.approx(1.0)


def test_problem_areas_flag_growing_volume(demo):
    for month in (1, 2, 3):
        _made(demo, "GEN", _month(2021, month))
        for _ in range(5):
            _made(demo, "PAS", _month(2021, month))
    for _ in range(6):
        _made(demo, "GEN", _month(2021, 4))
        _made(demo, "PAS", _month(2021, 4))

    result = problem_areas(demo["supervisor"], Filters(), threshold=1.5, min_count=5)

    assert result["last_period"] == "2021-04"
    (row,) = result["service"]
    assert row["key"] == "GEN"
    assert row["last_count"] == 6
    assert row["previous_counts"] == [1, 1, 1]
    assert row["volume_ratio"] == 6.0
    assert row["volume_growing"] is True


def test_problem_areas_count_empty_months_as_zero(demo):
    # February and March have no consultation at all, of any service.
    for _ in range(5):
        _made(demo, "GEN", _month(2021, 1))
        _made(demo, "GEN", _month(2021, 4))

    result = problem_areas(demo["supervisor"], Filters(), threshold=1.5, min_count=5)

    assert result["last_period"] == "2021-04"
    assert result["previous_periods"] == ["2021-01", "2021-02", "2021-03"]
    (row,) = result["service"]
    assert row["previous_counts"] == [5, 0, 0]
    assert row["baseline_count"] == 0
    assert row["volume_ratio"] == 5.0
    assert row["volume_growing"] is True


def test_problem_areas_count_empty_weeks_as_zero(demo):
    # Mondays 2021-01-04 and 2021-01-25, with two empty weeks between them.
    for _ in range(5):
        _made(demo, "GEN", datetime(2021, 1, 5, 12, tzinfo=MOSCOW))
        _made(demo, "GEN", datetime(2021, 1, 26, 12, tzinfo=MOSCOW))

    result = problem_areas(
        demo["supervisor"], Filters(granularity="week"), threshold=1.5, min_count=5
    )

    assert result["last_period"] == "2021-W04"
    assert result["previous_periods"] == ["2021-W01", "2021-W02", "2021-W03"]
    (row,) = result["service"]
    assert row["previous_counts"] == [5, 0, 0]
