"""Deadline cases on Russian business calendars."""

from datetime import date, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from protokol.workflow.calendars import BusinessCalendar, stored_hours
from protokol.workflow.sla import (
    ANSWER,
    ClockState,
    Target,
    Unit,
    due_at,
    evaluate,
    used,
)

MSK = ZoneInfo("Europe/Moscow")
UTC = ZoneInfo("UTC")
ONE_WORKING_DAY = Target("answer", 1, Unit.WORKING_DAYS)


def msk(*args) -> datetime:
    return datetime(*args, tzinfo=MSK)


def test_friday_evening_request_is_due_at_monday_close():
    calendar = BusinessCalendar()

    due = due_at(calendar, ONE_WORKING_DAY, msk(2026, 12, 4, 19, 30))

    assert due == msk(2026, 12, 7, 18, 0)


def test_friday_afternoon_request_is_due_monday_same_time():
    calendar = BusinessCalendar()

    due = due_at(calendar, ONE_WORKING_DAY, msk(2026, 12, 4, 14, 0))

    assert due == msk(2026, 12, 7, 14, 0)


def test_new_year_holidays_are_skipped():
    calendar = BusinessCalendar()
    three_days = Target("answer", 3, Unit.WORKING_DAYS)

    # 30 December 2025 at 10:00: 8 of 9 hours that day, then the days off
    # from 31 December to 11 January, 12 and 13 January, and one hour more.
    due = due_at(calendar, three_days, msk(2025, 12, 30, 10, 0))

    assert due == msk(2026, 1, 14, 10, 0)


def test_moved_day_off_is_not_worked():
    calendar = BusinessCalendar()

    assert not calendar.is_working_day(date(2026, 1, 9))
    assert not calendar.is_working_day(date(2025, 11, 3))
    assert calendar.is_working_day(date(2025, 11, 5))


def test_transferred_working_saturday_counts():
    saturday = date(2025, 11, 1)
    plain = BusinessCalendar()
    transferred = BusinessCalendar(extra_working_days=frozenset({saturday}))

    start = msk(2025, 10, 31, 17, 0)

    assert due_at(plain, ONE_WORKING_DAY, start) == msk(2025, 11, 5, 17, 0)
    assert due_at(transferred, ONE_WORKING_DAY, start) == msk(2025, 11, 1, 17, 0)


def test_extra_day_off_is_skipped():
    closed = BusinessCalendar(extra_days_off=frozenset({date(2026, 12, 7)}))

    due = due_at(closed, ONE_WORKING_DAY, msk(2026, 12, 4, 19, 30))

    assert due == msk(2026, 12, 8, 18, 0)


def test_two_day_pause_moves_deadline():
    calendar = BusinessCalendar()
    start = msk(2026, 3, 2, 10, 0)
    pause = (msk(2026, 3, 5, 10, 0), msk(2026, 3, 7, 10, 0))

    assert due_at(calendar, ANSWER, start) == msk(2026, 4, 1, 10, 0)
    assert due_at(calendar, ANSWER, start, [pause]) == msk(2026, 4, 3, 10, 0)


def test_pause_outside_working_hours_changes_nothing():
    calendar = BusinessCalendar()
    start = msk(2026, 12, 4, 14, 0)
    weekend = (msk(2026, 12, 5, 9, 0), msk(2026, 12, 6, 20, 0))

    assert due_at(calendar, ONE_WORKING_DAY, start, [weekend]) == msk(
        2026, 12, 7, 14, 0
    )


def test_department_in_another_time_zone():
    yekaterinburg = BusinessCalendar(time_zone="Asia/Yekaterinburg")
    # 15:00 UTC is 20:00 in Yekaterinburg on Friday: after hours there,
    # while still a working hour in Moscow.
    start = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)

    due = due_at(yekaterinburg, ONE_WORKING_DAY, start)

    assert due.astimezone(UTC) == datetime(2026, 12, 7, 13, 0, tzinfo=UTC)
    assert due_at(BusinessCalendar(), ONE_WORKING_DAY, start).astimezone(
        UTC
    ) == datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


def test_working_hours_target_spans_the_night():
    calendar = BusinessCalendar()
    four_hours = Target("first_response", 4, Unit.WORKING_HOURS)

    assert due_at(calendar, four_hours, msk(2026, 12, 3, 16, 0)) == msk(
        2026, 12, 4, 11, 0
    )


def test_round_the_clock_hours_span_midnight():
    week = (stored_hours(["00:00", "24:00"]),) * 7
    calendar = BusinessCalendar(week=week, country=None)
    four_hours = Target("first_response", 4, Unit.WORKING_HOURS)

    due = due_at(calendar, four_hours, msk(2026, 12, 3, 22, 0))

    assert abs(due - msk(2026, 12, 4, 2, 0)) < timedelta(milliseconds=1)


def test_calendar_hours_ignore_the_working_week():
    calendar = BusinessCalendar()
    day = Target("registration", 24, Unit.CALENDAR_HOURS)

    assert due_at(calendar, day, msk(2026, 12, 5, 12, 0)) == msk(2026, 12, 6, 12, 0)


def test_short_working_week_from_settings():
    week = (None,) + ((time(8), time(12)),) * 4 + (None, None)
    calendar = BusinessCalendar(week=week)

    # Monday off, Tuesday to Friday 8:00-12:00: half a day is two hours.
    due = due_at(calendar, ONE_WORKING_DAY, msk(2026, 12, 7, 9, 0))

    assert due == msk(2026, 12, 8, 12, 0)


def test_used_share_counts_only_running_time():
    calendar = BusinessCalendar()
    start = msk(2026, 12, 7, 9, 0)

    assert used(calendar, ONE_WORKING_DAY, start, msk(2026, 12, 7, 13, 30)) == (
        Fraction(1, 2)
    )
    paused = [(msk(2026, 12, 7, 10, 0), msk(2026, 12, 7, 12, 0))]
    assert used(
        calendar, ONE_WORKING_DAY, start, msk(2026, 12, 7, 13, 30), paused
    ) == Fraction(5, 18)


def test_evaluate_running_paused_and_stopped_clocks():
    calendar = BusinessCalendar()
    start = msk(2026, 3, 2, 10, 0)
    changes = [
        (start, ClockState.RUNNING),
        (msk(2026, 3, 5, 10, 0), ClockState.PAUSED),
        (msk(2026, 3, 7, 10, 0), ClockState.RUNNING),
    ]

    running = evaluate(calendar, ANSWER, changes, msk(2026, 3, 10, 10, 0))
    assert running.due_at == msk(2026, 4, 3, 10, 0)
    assert not running.paused
    assert not running.breached
    assert running.used == Fraction(6, 30)

    paused = evaluate(calendar, ANSWER, changes[:2], msk(2026, 3, 6, 10, 0))
    assert paused.paused
    assert paused.due_at == msk(2026, 4, 2, 10, 0)
    assert paused.used == Fraction(3, 30)

    closed = [*changes, (msk(2026, 4, 4, 10, 0), ClockState.STOPPED)]
    late = evaluate(calendar, ANSWER, closed, msk(2026, 5, 1, 0, 0))
    assert late.stopped_at == msk(2026, 4, 4, 10, 0)
    assert late.breached


def test_evaluate_resumes_after_stop():
    calendar = BusinessCalendar()
    start = msk(2026, 3, 2, 10, 0)
    changes = [
        (start, ClockState.RUNNING),
        (msk(2026, 3, 12, 10, 0), ClockState.STOPPED),
        (msk(2026, 3, 22, 10, 0), ClockState.RUNNING),
    ]

    deadline = evaluate(calendar, ANSWER, changes, msk(2026, 3, 23, 10, 0))

    assert deadline.due_at == msk(2026, 4, 11, 10, 0)
    assert deadline.stopped_at is None


def test_evaluate_before_the_clock_starts():
    calendar = BusinessCalendar()
    changes = [(msk(2026, 3, 2, 10, 0), ClockState.PAUSED)]

    assert evaluate(calendar, ANSWER, changes, msk(2026, 3, 3)) is None


def test_extension_adds_days():
    calendar = BusinessCalendar()
    start = msk(2026, 3, 2, 10, 0)

    assert due_at(calendar, ANSWER.extended(30), start) == start + timedelta(days=60)


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="time zone"):
        due_at(BusinessCalendar(), ANSWER, datetime(2026, 3, 2, 10, 0))  # noqa: DTZ001


def test_bad_week_is_refused():
    with pytest.raises(ValueError, match="7 days"):
        BusinessCalendar(week=((time(9), time(18)),))
    with pytest.raises(ValueError, match="end after"):
        BusinessCalendar(week=((time(18), time(9)),) * 7)
