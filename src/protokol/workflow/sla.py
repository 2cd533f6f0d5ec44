"""Regulation deadlines: targets measured on a business calendar, with pauses.

Every computation runs on naive wall-clock times of the calendar's zone, so
"5 calendar days" ends at the same time of day five days later, and a
working day is the department's own working period. Paused and stopped time
is left out of the count, and the clock of each target runs on its own.
"""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction

from protokol.workflow.calendars import BusinessCalendar

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
# Calendar time counts without gaps, so its one window is open-ended.
END_OF_TIME = datetime.max  # noqa: DTZ901 (naive local time, as everywhere here)


class Unit(StrEnum):
    CALENDAR_DAYS = "calendar_days"
    CALENDAR_HOURS = "calendar_hours"
    WORKING_DAYS = "working_days"
    WORKING_HOURS = "working_hours"


class ClockState(StrEnum):
    """Effect of a consultation status on the deadline clocks."""

    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


@dataclass(frozen=True)
class Target:
    """A regulation target such as "answer within 30 calendar days"."""

    name: str
    amount: int
    unit: Unit

    def extended(self, amount: int) -> "Target":
        """Return the target with `amount` more units, for an extension."""
        return Target(self.name, self.amount + amount, self.unit)


# Citizens' appeals law: registration within 3 days, an answer within 30 days,
# and one extension of up to 30 days with a notice to the citizen.
REGISTRATION = Target("registration", 3, Unit.CALENDAR_DAYS)
ANSWER = Target("answer", 30, Unit.CALENDAR_DAYS)
MAX_EXTENSION = 30
# Not set by law: the default time for the first public reply by staff.
FIRST_RESPONSE = Target("first_response", 5, Unit.WORKING_DAYS)


@dataclass(frozen=True)
class Deadline:
    """State of one target at a moment.

    Fields:
        due_at: when the target is breached if the clock runs from now on
            without pauses; for a stopped clock, the deadline it had.
        stopped_at: when the clock stopped (for example the first public
            reply for a first-response target), None while it runs.
        paused: the clock is paused now, so `due_at` moves with time.
        breached: stopped after `due_at`, or still open past it.
        used: share of the target consumed, 1 at the deadline.
    """

    target: Target
    started_at: datetime
    due_at: datetime
    stopped_at: datetime | None
    paused: bool
    breached: bool
    used: Fraction


def due_at(
    calendar: BusinessCalendar,
    target: Target,
    start: datetime,
    pauses: Iterable[tuple[datetime, datetime]] = (),
) -> datetime:
    """Return when `target` runs out for a clock started at `start`.

    `pauses` are closed (start, end) intervals in which the clock does not
    run; they may overlap or touch. All times are aware.
    """
    local_pauses = _local_intervals(calendar, pauses)
    remaining = Fraction(target.amount)
    for opens, closes, unit in _running_windows(
        calendar, target.unit, calendar.to_local(start), local_pauses
    ):
        capacity = Fraction(_seconds(closes - opens), _seconds(unit))
        if capacity >= remaining:
            offset = round(remaining * _seconds(unit) * 1_000_000)
            return calendar.from_local(opens + timedelta(microseconds=offset))
        remaining -= capacity
    raise AssertionError("windows are endless")  # pragma: no cover


def used(
    calendar: BusinessCalendar,
    target: Target,
    start: datetime,
    until: datetime,
    pauses: Iterable[tuple[datetime, datetime]] = (),
) -> Fraction:
    """Return the share of `target` consumed between `start` and `until`."""
    if target.amount == 0:
        return Fraction(1)
    end = calendar.to_local(until)
    local_pauses = _local_intervals(calendar, pauses)
    units = Fraction(0)
    for opens, closes, unit in _running_windows(
        calendar, target.unit, calendar.to_local(start), local_pauses
    ):
        if opens >= end:
            break
        units += Fraction(_seconds(min(closes, end) - opens), _seconds(unit))
    return units / target.amount


def evaluate(
    calendar: BusinessCalendar,
    target: Target,
    changes: Sequence[tuple[datetime, ClockState]],
    now: datetime,
) -> Deadline | None:
    """Evaluate `target` from the clock changes recorded up to `now`.

    `changes` are (time, state) pairs in time order, for example derived
    from the journal's status transitions. The clock starts at the first
    RUNNING; a later RUNNING after a stop resumes it, and the time between
    counts as a pause. Returns None when the clock never started.
    """
    started_at = None
    pauses: list[tuple[datetime, datetime]] = []
    halted_at = None
    state = None
    for moment, new_state in changes:
        if moment > now:
            break
        if started_at is None:
            if new_state is ClockState.RUNNING:
                started_at, state = moment, new_state
            continue
        if new_state is ClockState.RUNNING and state is not ClockState.RUNNING:
            pauses.append((halted_at, moment))
        elif new_state is not ClockState.RUNNING and state is ClockState.RUNNING:
            halted_at = moment
        state = new_state
    if started_at is None:
        return None

    if state is ClockState.STOPPED:
        deadline = due_at(calendar, target, started_at, pauses)
        return Deadline(
            target=target,
            started_at=started_at,
            due_at=deadline,
            stopped_at=halted_at,
            paused=False,
            breached=halted_at > deadline,
            used=used(calendar, target, started_at, halted_at, pauses),
        )

    paused = state is ClockState.PAUSED
    if paused:
        pauses.append((halted_at, now))
    deadline = due_at(calendar, target, started_at, pauses)
    return Deadline(
        target=target,
        started_at=started_at,
        due_at=deadline,
        stopped_at=None,
        paused=paused,
        breached=now > deadline,
        used=used(calendar, target, started_at, now, pauses),
    )


def _running_windows(
    calendar: BusinessCalendar,
    unit: Unit,
    start: datetime,
    pauses: Sequence[tuple[datetime, datetime]],
) -> Iterator[tuple[datetime, datetime, timedelta]]:
    """Yield (opens, closes, unit length) windows in which the clock counts."""
    for opens, closes, length in _counted_windows(calendar, unit, start):
        yield from _cut(opens, closes, length, pauses)


def _counted_windows(
    calendar: BusinessCalendar, unit: Unit, start: datetime
) -> Iterator[tuple[datetime, datetime, timedelta]]:
    if unit is Unit.CALENDAR_DAYS or unit is Unit.CALENDAR_HOURS:
        yield start, END_OF_TIME, DAY if unit is Unit.CALENDAR_DAYS else HOUR
        return
    for opens, closes in calendar.working_periods(start):
        if unit is Unit.WORKING_HOURS:
            yield opens, closes, HOUR
        else:
            yield opens, closes, calendar.day_length(opens.date())


def _cut(opens, closes, length, pauses) -> Iterator:
    """Yield the parts of [opens, closes) outside every pause."""
    for pause_start, pause_end in pauses:
        if pause_end <= opens or pause_start >= closes:
            continue
        if pause_start > opens:
            yield opens, pause_start, length
        opens = max(opens, pause_end)
        if opens >= closes:
            return
    yield opens, closes, length


def _local_intervals(calendar, intervals) -> list[tuple[datetime, datetime]]:
    """Convert to local times, sort and merge overlapping intervals."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(
        (calendar.to_local(s), calendar.to_local(e)) for s, e in intervals
    ):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _seconds(delta: timedelta) -> Fraction:
    return Fraction(delta.days * 86400 + delta.seconds) + Fraction(
        delta.microseconds, 1_000_000
    )
