"""Business calendars: working hours, time zone, public holidays and transfers."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

import holidays

MOSCOW = "Europe/Moscow"
NINE_TO_SIX = (time(9), time(18))

# Closing time of hours that run to midnight, written "24:00". A time of
# day cannot be 24:00, so such a period ends one microsecond early.
END_OF_DAY = time.max


def clock_time(text: str) -> time:
    """Parse "HH:MM" into a time, "24:00" into END_OF_DAY.

    Raises ValueError for any other text that is not a time of day.
    """
    return END_OF_DAY if text == "24:00" else time.fromisoformat(text)


def clock_text(moment: time) -> str:
    """Format a time as "HH:MM", END_OF_DAY as "24:00"."""
    return "24:00" if moment == END_OF_DAY else moment.strftime("%H:%M")


def stored_hours(day: list[str] | None) -> tuple[time, time] | None:
    """Return the times of stored working hours ["09:00", "18:00"], or None."""
    return None if day is None else (clock_time(day[0]), clock_time(day[1]))


# Monday to Sunday; None marks a day off.
FIVE_DAY_WEEK: tuple[tuple[time, time] | None, ...] = (NINE_TO_SIX,) * 5 + (None,) * 2


@dataclass(frozen=True)
class BusinessCalendar:
    """When a department works, in its own time zone.

    Public holidays come from the `holidays` package for `country`, including
    the days off the government moves onto weekdays. The package does not
    list the weekend days that become working days in exchange, so those go
    in `extra_working_days`; local closures go in `extra_days_off`.

    Fields:
        time_zone: IANA name, for example "Europe/Moscow".
        week: working hours for Monday to Sunday, None for a day off.
        country: ISO code for public holidays, None for none.
        extra_working_days: days worked even when the week or the holidays
            mark them off; they use Monday's hours.
        extra_days_off: days not worked although the week says otherwise.
    """

    time_zone: str = MOSCOW
    week: tuple[tuple[time, time] | None, ...] = FIVE_DAY_WEEK
    country: str | None = "RU"
    extra_working_days: frozenset[date] = field(default_factory=frozenset)
    extra_days_off: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self):
        if len(self.week) != 7:
            raise ValueError("week needs working hours for 7 days, Monday first")
        for hours in self.week:
            if hours is not None and not hours[0] < hours[1]:
                raise ValueError("working hours must end after they start")

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @cached_property
    def _holidays(self) -> holidays.HolidayBase | dict:
        if self.country is None:
            return {}
        return holidays.country_holidays(self.country)

    def is_working_day(self, day: date) -> bool:
        """Tell whether `day` has working hours in this calendar."""
        return self.hours(day) is not None

    @cached_property
    def _hours_by_day(self) -> dict[date, tuple[time, time] | None]:
        return {}

    def hours(self, day: date) -> tuple[time, time] | None:
        """Return the working hours of `day`, or None when it is a day off."""
        try:
            return self._hours_by_day[day]
        except KeyError:
            hours = self._hours_by_day[day] = self._uncached_hours(day)
            return hours

    def _uncached_hours(self, day: date) -> tuple[time, time] | None:
        if day in self.extra_working_days:
            return self.week[0] or NINE_TO_SIX
        if day in self.extra_days_off or day in self._holidays:
            return None
        return self.week[day.weekday()]

    def working_periods(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Yield the working periods from `start` on, as naive local times.

        The first period is cut at `start`; periods that ended before it are
        skipped. The iterator is endless, so callers stop it.
        """
        day = start.date()
        while True:
            hours = self.hours(day)
            if hours is not None:
                opens = datetime.combine(day, hours[0])
                closes = datetime.combine(day, hours[1])
                if closes > start:
                    yield max(opens, start), closes
            day += timedelta(days=1)

    def day_length(self, day: date) -> timedelta:
        """Return the length of the working period of a working `day`."""
        opens, closes = self.hours(day)
        return datetime.combine(day, closes) - datetime.combine(day, opens)

    def to_local(self, moment: datetime) -> datetime:
        """Convert an aware datetime into naive wall-clock time of this zone."""
        if moment.tzinfo is None:
            raise ValueError("times passed to a calendar must carry a time zone")
        return moment.astimezone(self.zone).replace(tzinfo=None)

    def from_local(self, moment: datetime) -> datetime:
        """Attach this calendar's zone to a naive wall-clock time."""
        # NOTE: a wall-clock time in a daylight-saving gap or fold resolves by
        # zoneinfo's fold=0 rule; Russian zones have had no DST since 2014.
        return moment.replace(tzinfo=self.zone)
