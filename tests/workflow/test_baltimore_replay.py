"""Replay the Baltimore 311 sample's own due dates through the deadline engine."""

import csv
import gzip
from collections import Counter
from datetime import datetime
from pathlib import Path

from protokol.workflow.calendars import BusinessCalendar
from protokol.workflow.sla import ClockState, Target, Unit, due_at, evaluate

DATA = Path(__file__).parent / "data" / "baltimore_311_deadlines.csv.gz"
TIME_FORMAT = "%m/%d/%Y %I:%M:%S %p"
# Baltimore counts calendar days in its own wall-clock time.
BALTIMORE = BusinessCalendar(time_zone="America/New_York", country=None)


def _rows():
    with gzip.open(DATA, "rt", newline="") as file:
        yield from csv.DictReader(file)


def _local(text: str) -> datetime:
    wall_clock = datetime.strptime(text, TIME_FORMAT)  # noqa: DTZ007
    return BALTIMORE.from_local(wall_clock)


def test_baltimore_due_dates_and_counts():
    outcomes = Counter()
    targets_by_type: dict[str, Counter] = {}

    for row in _rows():
        if not row["DueDate"] or not row["CloseDate"]:
            outcomes["no due or close date"] += 1
            continue
        created, due = _local(row["CreatedDate"]), _local(row["DueDate"])
        closed = _local(row["CloseDate"])
        days = (due.replace(tzinfo=None) - created.replace(tzinfo=None)).days
        target = Target("answer", days, Unit.CALENDAR_DAYS)
        targets_by_type.setdefault(row["SRType"], Counter())[days] += 1

        assert due_at(BALTIMORE, target, created) == due, row["ServiceRequestNum"]
        deadline = evaluate(
            BALTIMORE,
            target,
            [(created, ClockState.RUNNING), (closed, ClockState.STOPPED)],
            closed,
        )
        outcomes["late" if deadline.breached else "on time"] += 1

    assert outcomes == {"on time": 7988, "late": 1567, "no due or close date": 445}
    # Each request type has one regulation target in most of its rows.
    usual = sum(counter.most_common(1)[0][1] for counter in targets_by_type.values())
    assert usual / sum(outcomes[k] for k in ("on time", "late")) > 0.9
