"""Daily aggregates of the statistics, checked against the direct computation.

Counts and shares must equal it over the real appeals and generated data,
after each kind of write and after the refresh. Percentiles must stay within
the stated precision. The tests also cover stale days, which are read from
the facts, and the refresh command and task.
"""

import gzip
import json
import random
import statistics
from contextlib import contextmanager
from datetime import date, timedelta
from importlib import import_module
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from consultations.factories import act, consultation_in, open_consultation
from protokol.accounts.models import Department, Role
from protokol.accounts.services import create_user
from protokol.analytics import aggregates, comparison, tasks
from protokol.analytics.aggregates import (
    BOUNDS,
    PRECISION_RELATIVE,
    PRECISION_SECONDS,
    bucket_of,
    bucket_value,
    histogram_percentile,
    refresh_stale,
)
from protokol.analytics.filters import Filters, day_start
from protokol.analytics.measures import (
    COLUMNS,
    percentile,
    statistics_rows,
    statistics_tables,
)
from protokol.analytics.models import (
    DailyStats,
    DurationHistogram,
    RolledMonth,
    StaleDay,
    WeekHistogram,
)
from protokol.consultations import services
from protokol.consultations.models import Consultation, Status, Visibility
from protokol.errors import PermissionDenied
from protokol.imports.services import default_file
from protokol.retention import disposal
from protokol.retention.disposal import purge
from protokol.retention.services import set_policy
from protokol.scale.generate import generate
from protokol.workflow.extensions import extend_deadline
from retention.conftest import close_years_ago

pytestmark = pytest.mark.django_db

BY = (None, "service", "department", "district", "channel", "operator", "period")
LONG = (
    Filters(),
    Filters(date_from=date(2000, 1, 1)),
    Filters(date_from=date(2020, 1, 15), date_to=date(2031, 6, 20)),
    Filters(service="GEN"),
    Filters(channel="portal", date_from=date(2020, 2, 1)),
)


def _exact(user, filters, by, now) -> list[dict]:
    with mock.patch.object(aggregates, "counted_tables", return_value=None):
        return statistics_rows(user, filters, by, now=now)


def _close(estimate, exact) -> bool:
    if estimate is None or exact is None:
        return estimate is None and exact is None
    return abs(estimate - exact) <= PRECISION_RELATIVE * abs(exact) + (
        PRECISION_SECONDS + 1e-6
    )


def _index_bounds(observed, expected) -> tuple[float, float]:
    """Return the range of observed / expected when both are off by the
    aggregates' precision."""
    low_observed = observed - (PRECISION_RELATIVE * observed + PRECISION_SECONDS)
    high_observed = observed + (PRECISION_RELATIVE * observed + PRECISION_SECONDS)
    low_expected = expected - (PRECISION_RELATIVE * expected + PRECISION_SECONDS)
    high_expected = expected + (PRECISION_RELATIVE * expected + PRECISION_SECONDS)
    high = high_observed / low_expected if low_expected > 0 else float("inf")
    return max(low_observed, 0) / high_expected - 1e-9, high + 1e-9


def assert_comparison_matches(user, filters=LONG[:3]) -> int:
    """Assert that the aggregate path serves each comparison and equals the
    exact one within the precision; return the number of rows compared."""
    compared = 0
    for selection in filters:
        for by in comparison.COMPARED:
            mixes = {by: (), "service": aggregates.TIMES, (by, "service"): ()}
            assert aggregates.counted_tables(user, selection, mixes, timezone.now()), (
                selection,
                by,
            )
            served = comparison.comparison_rows(user, selection, by)
            with mock.patch.object(aggregates, "counted_tables", return_value=None):
                exact = comparison.comparison_rows(user, selection, by)
            assert [r["key"] for r in served] == [r["key"] for r in exact]
            for got, want in zip(served, exact, strict=True):
                for column in COLUMNS:
                    if column.endswith("_s"):
                        assert _close(got[column], want[column]), (by, column)
                    else:
                        assert got[column] == want[column], (by, column)
                for name in aggregates.TIMES:
                    expected = f"{name}_expected_s"
                    assert _close(got[expected], want[expected]), (by, expected)
                    index = f"{name}_index"
                    if want[index] is None:
                        assert got[index] is None, (by, index)
                        continue
                    low, high = _index_bounds(want[f"{name}_median_s"], want[expected])
                    assert low <= got[index] <= high, (by, index, got[index])
                compared += 1
    return compared


def assert_matches(user, now, filters=LONG, by=BY) -> int:
    """Assert that the aggregate path serves each selection and equals the
    exact one; return the number of rows compared."""
    compared = 0
    for selection in filters:
        for group in by:
            assert aggregates.counted(user, selection, group, now) is not None
            served = statistics_rows(user, selection, group, now=now)
            exact = _exact(user, selection, group, now)
            assert [r["key"] for r in served] == [r["key"] for r in exact]
            for got, want in zip(served, exact, strict=True):
                for column in COLUMNS:
                    if column.endswith("_s"):
                        assert _close(got[column], want[column]), (
                            selection,
                            group,
                            got["key"],
                            column,
                            got[column],
                            want[column],
                        )
                    else:
                        assert got[column] == want[column], (
                            selection,
                            group,
                            got["key"],
                            column,
                        )
                compared += 1
    return compared


@pytest.fixture(autouse=True)
def _aggregates_for_any_size(monkeypatch):
    # The test data are small; the aggregates serve them all the same.
    monkeypatch.setattr(aggregates, "SMALL_SELECTION", 0)


@pytest.fixture
def small_source(tmp_path):
    """The first 60 appeals of the packaged sample, as plain JSON Lines."""
    path = tmp_path / "appeals.jsonl"
    with gzip.open(default_file(), "rt", encoding="utf-8") as lines:
        path.write_text("".join(next(lines) for _ in range(60)), encoding="utf-8")
    return path


# -- buckets and percentiles


def test_bounds_are_five_percent_apart_or_one_second():
    assert BOUNDS[0] == 0
    for low, high in zip(BOUNDS, BOUNDS[1:], strict=False):
        assert high - low == 1 or high / low <= 1.05
    assert BOUNDS[-1] >= 10 * 365 * 86400


@pytest.mark.parametrize("seconds", [0, 0.4, 1, 19.9, 20, 61, 3600.5, 86400 * 45])
def test_bucket_value_within_precision(seconds):
    estimate = bucket_value(bucket_of(seconds))
    error = PRECISION_RELATIVE * seconds + PRECISION_SECONDS
    assert abs(estimate - seconds) <= error


@pytest.mark.parametrize("seed", range(5))
def test_histogram_percentile_within_precision(seed):
    rng = random.Random(seed)
    values = sorted(rng.lognormvariate(12, 1.5) for _ in range(rng.randint(1, 400)))
    counts: dict = {}
    for value in values:
        counts[bucket_of(value)] = counts.get(bucket_of(value), 0) + 1
    for fraction in (0.5, 0.9):
        exact = percentile(values, fraction)
        estimate = histogram_percentile(counts, fraction)
        assert _close(estimate, exact), (fraction, estimate, exact)
    assert _close(histogram_percentile(counts, 0.5), statistics.median(values))


def test_empty_histogram_has_no_percentile():
    assert histogram_percentile({}, 0.5) is None


@pytest.mark.skipif(connection.vendor != "postgresql", reason="width_bucket")
def test_width_bucket_equals_bucket_of():
    samples = [0, 0.5, 1, 20, 20.999999, 21, 40, 41, 1234.5678, 86400 * 400]
    with connection.cursor() as cursor:
        for seconds in samples:
            cursor.execute(
                "SELECT width_bucket(%s::numeric, ARRAY["
                + ",".join(str(b) for b in BOUNDS)
                + "]::numeric[])",
                [str(seconds)],
            )
            assert cursor.fetchone()[0] == bucket_of(seconds), seconds


# -- the packaged real appeals and generated data


@pytest.fixture
def refreshed(imported, demo, small_source):
    generate(300, seed=5, batch_size=100, source=small_source)
    refresh_stale()
    assert not StaleDay.objects.exists()
    return demo


def test_fill_covers_every_consultation(refreshed):
    total = sum(DailyStats.objects.values_list("total", flat=True))
    assert total == Consultation.objects.count()
    timed = sum(
        DurationHistogram.objects.filter(kind=DurationHistogram.PROCESSING).values_list(
            "n", flat=True
        )
    )
    assert timed == sum(DailyStats.objects.values_list("processing_n", flat=True))


def test_aggregates_equal_direct_over_real_and_generated(refreshed):
    now = timezone.now()
    assert assert_matches(refreshed["supervisor"], now) > 100


def test_page_tables_equal_separate_reads(refreshed):
    now = timezone.now()
    user = refreshed["supervisor"]
    for filters in LONG[:3]:
        tables = statistics_tables(user, filters, (None, "period", "service"), now=now)
        for by in (None, "period", "service"):
            assert tables[by] == statistics_rows(user, filters, by, now=now), by


def test_comparison_equals_direct(refreshed):
    assert assert_comparison_matches(refreshed["supervisor"]) > 10


def test_problem_series_equal_direct(refreshed):
    user = refreshed["supervisor"]
    weekly = Filters(granularity="week", date_from=timezone.localdate().replace(day=1))
    for filters in (*LONG[:3], weekly):
        served = comparison._problem_series(user, filters)
        with mock.patch.object(aggregates, "counted_tables", return_value=None):
            exact = comparison._problem_series(user, filters)
        for by in comparison.PROBLEM_DIMENSIONS:
            assert sorted(served[by], key=str) == sorted(exact[by], key=str), by
            for key, (count, median) in exact[by].items():
                assert served[by][key][0] == count, (by, key)
                assert _close(served[by][key][1], median), (by, key)
        result = comparison.problem_areas(user, filters, threshold=1.0, min_count=1)
        with mock.patch.object(aggregates, "counted_tables", return_value=None):
            direct = comparison.problem_areas(user, filters, threshold=1.0, min_count=1)
        assert result["last_period"] == direct["last_period"]
        assert result["previous_periods"] == direct["previous_periods"]


def test_weekly_periods_of_current_month_are_served(refreshed):
    now = timezone.now()
    user = refreshed["supervisor"]
    open_consultation(refreshed["citizen"])
    refresh_stale()
    first = timezone.localdate().replace(day=1)
    weekly = Filters(granularity="week", date_from=first)
    assert assert_matches(user, now, filters=[weekly], by=("period", None)) >= 2


def _boundary_week() -> date:
    """Return the Monday of a week that spans two rolled-up months.

    Its neighbour weeks lie in rolled-up months too. Timed consultations exist
    on both sides of the month boundary and on the cut days that the weekly
    tests select, from the Wednesday before to the Thursday after.

    The generated times follow today's date, so a side without consultations
    would drop a period from the tests' rows."""
    rolled = set(RolledMonth.objects.values_list("month", flat=True))
    timed = Consultation.objects.filter(facts__end_at__isnull=False)
    for month in sorted(rolled, reverse=True):
        following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
        monday = following - timedelta(days=following.weekday())
        if monday == following or following not in rolled:
            continue
        before = (monday - timedelta(days=7)).replace(day=1)
        after = (monday + timedelta(days=13)).replace(day=1)
        if before not in rolled or after not in rolled:
            continue
        sides = (
            (monday - timedelta(days=5), monday),
            (monday, following),
            (following, monday + timedelta(days=7)),
            (monday + timedelta(days=7), monday + timedelta(days=11)),
        )
        if all(
            timed.filter(
                created_at__gte=day_start(first), created_at__lt=day_start(end)
            ).exists()
            for first, end in sides
        ):
            return monday
    pytest.fail("no week with timed consultations spans two rolled-up months")


def _weekly_plan(filters: Filters, now) -> aggregates._Plan:
    return aggregates._Plan(filters, timezone.localdate(now), "default", weekly=True)


def test_weekly_periods_across_months_read_week_rows(refreshed):
    now = timezone.now()
    user = refreshed["supervisor"]
    monday = _boundary_week()
    # From a Wednesday to a Thursday, so both ends cut a week.
    first, last = monday - timedelta(days=5), monday + timedelta(days=10)
    across = Filters(granularity="week", date_from=first, date_to=last)

    plan = _weekly_plan(across, now)
    assert plan.whole_weeks == {monday}
    partial = {first + timedelta(days=i) for i in range(5)} | {
        monday + timedelta(days=7 + i) for i in range(4)
    }
    assert plan.duration_days == partial
    assert plan.served()
    by = ("period", None, "service")
    assert assert_matches(user, now, filters=[across], by=by) >= 5
    undated = Filters(granularity="week")
    assert monday in _weekly_plan(undated, now).whole_weeks
    assert assert_matches(user, now, filters=[undated], by=("period",)) > 50


def test_weekly_periods_with_stale_day_read_facts(refreshed):
    now = timezone.now()
    user = refreshed["supervisor"]
    monday = _boundary_week()
    first, last = monday - timedelta(days=5), monday + timedelta(days=10)
    across = Filters(granularity="week", date_from=first, date_to=last)
    inside = Consultation.objects.filter(
        created_at__gte=day_start(monday + timedelta(days=6)),
        created_at__lt=day_start(monday + timedelta(days=7)),
    ).first() or Consultation.objects.filter(
        created_at__gte=day_start(monday),
        created_at__lt=day_start(monday + timedelta(days=7)),
    ).latest("created_at")

    with transaction.atomic():
        # A change of a key outside the service layer, marked by hand.
        Consultation.objects.filter(pk=inside.pk).update(district="Новый район")
        aggregates.mark_stale([inside.pk])
    plan = _weekly_plan(across, now)
    assert plan.whole_weeks == set()
    assert len(plan.duration_days) == 16
    assert assert_matches(user, now, filters=[across], by=("period", None)) >= 3

    refresh_stale()
    assert _weekly_plan(across, now).whole_weeks == {monday}
    assert assert_matches(user, now, filters=[across], by=("period", None)) >= 3


def test_week_rows_count_every_timed_consultation(refreshed):
    rolled = set(RolledMonth.objects.values_list("month", flat=True))
    weeks = sorted(set(WeekHistogram.objects.values_list("week", flat=True)))
    assert _boundary_week() in weeks
    for monday in weeks:
        assert monday.weekday() == 0, monday
        sunday = monday + timedelta(days=6)
        for side in (monday, sunday):
            # A month without consultations is never rolled up.
            month = side.replace(day=1)
            following = (month + timedelta(days=31)).replace(day=1)
            assert (
                month in rolled
                or not Consultation.objects.filter(
                    created_at__gte=day_start(month),
                    created_at__lt=day_start(following),
                ).exists()
            ), monday
        week = Consultation.objects.filter(
            created_at__gte=day_start(monday),
            created_at__lt=day_start(monday + timedelta(days=7)),
        )
        for kind, end in (
            (WeekHistogram.PROCESSING, "facts__end_at"),
            (WeekHistogram.FIRST_RESPONSE, "facts__first_reply_at"),
        ):
            stored = WeekHistogram.objects.filter(week=monday, kind=kind)
            counted = sum(stored.values_list("n", flat=True))
            assert counted == week.filter(**{f"{end}__isnull": False}).count(), (
                monday,
                kind,
            )


def test_department_operator_sees_own_department(refreshed):
    department = (
        Consultation.objects.values_list("department", flat=True)
        .order_by("department")
        .first()
    )
    operator = create_user(
        "agg-operator",
        role=Role.OPERATOR,
        password=None,
        departments=[Department.objects.get(pk=department)],
    )
    assert_matches(operator, timezone.now(), filters=LONG[:2])
    assert assert_comparison_matches(operator, filters=LONG[:2])
    departments = {
        row["key"]
        for row in comparison.comparison_rows(operator, Filters(), "department")
    }
    assert departments == {Department.objects.get(pk=department).code}


def test_small_selection_stays_exact(refreshed, monkeypatch):
    total = Consultation.objects.count()
    monkeypatch.setattr(aggregates, "SMALL_SELECTION", total + 1)
    now = timezone.now()
    assert aggregates.counted(refreshed["supervisor"], Filters(), None, now) is None
    monkeypatch.setattr(aggregates, "SMALL_SELECTION", total)
    assert aggregates.counted(refreshed["supervisor"], Filters(), None, now)


def test_other_repeat_window_stays_exact(refreshed):
    now = timezone.now()
    user = refreshed["supervisor"]
    assert aggregates.counted(user, Filters(repeat_days=7), None, now) is None
    weekly = Filters(granularity="week")
    assert aggregates.counted(user, weekly, "service", now) is not None


def test_citizen_is_refused(refreshed):
    with pytest.raises(PermissionDenied):
        aggregates.counted(refreshed["citizen"], Filters(), None, timezone.now())


def test_migration_fills_aggregates(refreshed):
    expected = sorted(DailyStats.objects.values_list("day", "service_id", "total"))
    weeks = sorted(WeekHistogram.objects.values_list("week", "kind", "bucket", "n"))
    DailyStats.objects.all().delete()
    DurationHistogram.objects.all().delete()
    WeekHistogram.objects.all().delete()
    editor = type("Editor", (), {"connection": connection})()

    for name in ("0002_daily_aggregates", "0003_week_histograms"):
        import_module(f"protokol.analytics.migrations.{name}").fill(None, editor)

    got = sorted(DailyStats.objects.values_list("day", "service_id", "total"))
    assert got == expected
    got_weeks = WeekHistogram.objects.values_list("week", "kind", "bucket", "n")
    assert sorted(got_weeks) == weeks
    assert weeks
    assert not StaleDay.objects.exists()


# -- writes: a stale day is served from the facts until the refresh


def _later(days: int):
    return timezone.now() + timedelta(days=days)


@contextmanager
def stale_then_refreshed(user, *, expect_stale: bool = True):
    """Refresh, run the block's write, compare while the day is stale, then
    refresh and compare again, at a moment after the deadlines and at one
    before them."""
    refresh_stale(now=_later(1))
    assert not StaleDay.objects.exists()
    yield
    if expect_stale:
        assert StaleDay.objects.filter(day=timezone.localdate()).exists()
    for now in (_later(2), _later(400)):
        assert_matches(user, now, filters=LONG[:2])
    refresh_stale(now=_later(1))
    assert not StaleDay.objects.exists()
    for now in (_later(2), _later(400)):
        assert_matches(user, now, filters=LONG[:2])


def _write_new(demo):
    open_consultation(demo["citizen"])


def _write_reply(demo, consultation):
    services.add_message(
        demo["operator"], consultation.pk, text="Ответ", visibility=Visibility.PUBLIC
    )


WRITES = {
    "take": (Status.INITIATED, lambda d, c: act(d["operator"], c, "take")),
    "reply": (Status.DRAFTING, _write_reply),
    "submit": (Status.DRAFTING, lambda d, c: act(d["operator"], c, "submit")),
    "return": (Status.IN_REVIEW, lambda d, c: act(d["reviewer"], c, "return")),
    "sign": (Status.APPROVED, lambda d, c: act(d["reviewer"], c, "sign")),
    "archive": (Status.SIGNED, lambda d, c: act(d["operator"], c, "archive")),
    "dispute": (Status.SIGNED, lambda d, c: act(d["citizen"], c, "dispute")),
    "withdraw": (Status.INITIATED, lambda d, c: act(d["citizen"], c, "withdraw")),
    "forward": (
        Status.DRAFTING,
        lambda d, c: services.forward(
            d["supervisor"], c.pk, department_code="B", reason="Не наш район"
        ),
    ),
    "extend": (
        Status.DRAFTING,
        lambda d, c: extend_deadline(d["supervisor"], c.pk, days=10, reason="Запрос"),
    ),
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_write_is_served_before_and_after_refresh(refreshed, write):
    demo = refreshed
    status, apply = WRITES[write]
    consultation = consultation_in(demo, status)
    open_consultation(demo["citizen2"] if "citizen2" in demo else demo["citizen"])

    with stale_then_refreshed(demo["supervisor"]):
        apply(demo, consultation)


def test_new_consultation_is_served_before_refresh(refreshed):
    demo = refreshed
    consultation_in(demo, Status.SIGNED)
    refresh_stale(now=_later(1))
    day = timezone.localdate()
    before = sum(DailyStats.objects.filter(day=day).values_list("total", flat=True))

    with stale_then_refreshed(demo["supervisor"]):
        _write_new(demo)
        stored = DailyStats.objects.filter(day=day).values_list("total", flat=True)
        # The aggregate row is behind until the refresh ...
        assert sum(stored) == before
        # ... and the statistics count the new consultation all the same.
        (row,) = statistics_rows(demo["supervisor"], Filters(), None, now=_later(2))
        assert row["total"] == Consultation.objects.count()


def test_purge_is_served_before_and_after_refresh(refreshed):
    demo = refreshed
    first = open_consultation(demo["citizen"])
    open_consultation(demo["citizen"])

    with stale_then_refreshed(demo["supervisor"]), transaction.atomic():
        purge(first)


def test_archive_policy_is_served_before_and_after_refresh(refreshed, monkeypatch):
    # The policy archives old appeals of the sample on hundreds of days.
    monkeypatch.setattr(aggregates, "MAX_FACT_DAYS", 10_000)
    demo = refreshed
    consultation = consultation_in(demo, Status.ARCHIVED)
    close_years_ago(consultation, 6)
    set_policy(demo["admin"], "GEN", years=5, end_action="archive")

    with stale_then_refreshed(demo["supervisor"]):
        archived = {d.consultation_id for d in disposal.run().disposals}
        assert consultation.pk in archived
    # Without an archive grant the supervisor's statistics leave them out.
    (row,) = statistics_rows(demo["supervisor"], Filters(), None, now=_later(2))
    assert row["total"] == Consultation.objects.count() - len(archived)


def test_old_day_write_is_served_before_refresh(refreshed):
    """A write to a consultation of a rolled-up month reads that month's
    durations from the facts until the refresh."""
    demo = refreshed
    old = (
        Consultation.objects.filter(status=Status.SIGNED).order_by("created_at").first()
    )
    if old is None:
        pytest.skip("no signed consultation in the sample")
    with (
        stale_then_refreshed(demo["supervisor"], expect_stale=False),
        transaction.atomic(),
    ):
        # A change of a key outside the service layer, marked by hand.
        Consultation.objects.filter(pk=old.pk).update(district="Новый район")
        aggregates.mark_stale([old.pk])
    assert old.created_at.date() < timezone.localdate()


# -- the command and the task


def test_command_refreshes_stale_days(refreshed):
    open_consultation(refreshed["citizen"])
    assert StaleDay.objects.exists()

    call_command("analytics_refresh", stale=True, verbosity=0)

    assert not StaleDay.objects.exists()


def test_command_rebuilds_a_range(refreshed):
    day = Consultation.objects.order_by("created_at").first().created_at
    day = timezone.localtime(day).date()
    DailyStats.objects.filter(day=day).delete()

    call_command(
        "analytics_refresh",
        date_from=day.isoformat(),
        date_to=day.isoformat(),
        verbosity=0,
    )

    assert DailyStats.objects.filter(day=day).exists()
    assert_matches(
        refreshed["supervisor"], timezone.now(), filters=LONG[:1], by=(None,)
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"stale": True, "date_from": "2021-01-01"}, "--stale and --schedule take"),
        ({"schedule": True, "date_to": "2021-01-01"}, "--stale and --schedule take"),
        ({"stale": True, "schedule": True}, "Give --stale or --schedule, not both"),
        ({"date_from": "2021-02-30"}, "--date-from: invalid date '2021-02-30'"),
        ({"date_from": "0001-01-01"}, "--date-from: 0001-01-01 is out of range"),
        ({"date_to": "9999-12-31"}, "--date-to: 9999-12-31 is out of range"),
    ],
)
def test_command_rejects_bad_options(options, message):
    with pytest.raises(CommandError) as error:
        call_command("analytics_refresh", verbosity=0, **options)

    assert message in str(error.value)


def test_task_refreshes_and_schedules_next(refreshed):
    from django_tasks_db.models import DBTaskResult

    open_consultation(refreshed["citizen"])

    assert tasks.refresh_aggregates.call() == {"days": 1}

    assert not StaleDay.objects.exists()
    waiting = DBTaskResult.objects.filter(
        task_path=tasks.refresh_aggregates.module_path, status="READY"
    )
    assert waiting.count() == 1
    assert tasks.start_schedule() is False


# -- query plans


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="query plans are checked on PostgreSQL"
)
def test_undated_statistics_do_not_scan_the_facts(demo, small_source):
    generate(20_000, seed=11, batch_size=2000, source=small_source)
    refresh_stale()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    user = demo["supervisor"]

    with CaptureQueriesContext(connection) as captured:
        for by in (None, "service", "period"):
            statistics_rows(user, Filters(), by)
    scanned = []
    for query in captured.captured_queries:
        sql = query["sql"]
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
            document = cursor.fetchone()[0]
        if isinstance(document, str):
            document = json.loads(document)
        scanned += [(table, sql) for table in _seq_scans(document[0]["Plan"])]
    assert not scanned, scanned


def _seq_scans(plan: dict) -> list[str]:
    large = {"analytics_consultationfacts", "consultations_consultation"}
    found = []
    if plan.get("Node Type") == "Seq Scan" and plan["Relation Name"] in large:
        found.append(plan["Relation Name"])
    for child in plan.get("Plans", []):
        found += _seq_scans(child)
    return found
