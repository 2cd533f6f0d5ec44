"""Deadline recomputation benchmark: every target of N consultations.

Builds N transition histories in memory (waiting for data 0 to 3 times,
then an answer) and replays the three regulation targets of each through
the engine, on the Moscow business calendar with Russian holidays.
Baseline: adding a fixed 30 days to each creation time, the whole of what
a system without calendars or pauses computes. Prints one JSON object and
writes it under bench/results/.
"""

import json
import random
import sys
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from record import write_result
from tqdm import tqdm

from protokol.workflow.calendars import BusinessCalendar
from protokol.workflow.sla import (
    ANSWER,
    FIRST_RESPONSE,
    REGISTRATION,
    ClockState,
    evaluate,
)

MOSCOW = ZoneInfo("Europe/Moscow")


def histories(count: int, seed: int = 2026) -> list[list[tuple[datetime, ClockState]]]:
    """Return `count` clock histories spread over two years."""
    rng = random.Random(seed)
    first = datetime(2025, 1, 1, tzinfo=MOSCOW)
    result = []
    for _ in range(count):
        moment = first + timedelta(minutes=rng.randrange(0, 2 * 365 * 24 * 60))
        changes = [(moment, ClockState.RUNNING)]
        for _ in range(rng.randrange(0, 4)):
            moment += timedelta(hours=rng.randrange(1, 200))
            changes.append((moment, ClockState.PAUSED))
            moment += timedelta(hours=rng.randrange(1, 100))
            changes.append((moment, ClockState.RUNNING))
        moment += timedelta(hours=rng.randrange(1, 800))
        changes.append((moment, ClockState.STOPPED))
        result.append(changes)
    return result


def main(count: int) -> None:
    calendar = BusinessCalendar()
    now = datetime(2027, 1, 1, tzinfo=MOSCOW)
    clocks = histories(count)

    started = time.perf_counter()
    naive = [changes[0][0] + timedelta(days=30) for changes in clocks]
    baseline_seconds = time.perf_counter() - started

    started = time.perf_counter()
    late = 0
    for changes in tqdm(clocks, desc="deadlines", unit="consultation", file=sys.stderr):
        for target in (REGISTRATION, FIRST_RESPONSE, ANSWER):
            late += evaluate(calendar, target, changes, now).breached
    engine_seconds = time.perf_counter() - started

    numbers = {
        "consultations": count,
        "targets": 3 * count,
        "engine_s": round(engine_seconds, 2),
        "baseline_s": round(baseline_seconds, 4),
        "engine_per_s": round(count / engine_seconds),
        "breached": late,
        "naive_deadlines": len(naive),
    }
    print(json.dumps(numbers))
    write_result(
        "sla",
        value=engine_seconds,
        value_label="three regulation targets of each consultation",
        baseline=baseline_seconds,
        baseline_label="adding 30 days to each creation time",
        unit="s",
        better="lower",
        command=f"python bench/sla_bench.py {count}",
        details=numbers,
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
