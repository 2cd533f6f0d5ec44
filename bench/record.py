"""Benchmark results as JSON files under bench/results/, one per run of a benchmark.

Every file has the same top-level fields, so a script can compare runs:

- name, date (UTC, ISO 8601), machine, command;
- value and baseline, two numbers measured in the same run, with what each
  one is (value_label, baseline_label) and their common unit;
- ratio: value ÷ baseline, and better: "higher" or "lower", the direction
  in which the ratio improves;
- goal: the ratio or value the benchmark aims at, in words, or null;
- details: the benchmark's other numbers.

Run as a script, it prints the last two runs of each benchmark side by side:

    .venv/bin/python bench/record.py [DIRECTORY]
"""

import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
FIELDS = (
    "name",
    "date",
    "machine",
    "command",
    "value",
    "value_label",
    "baseline",
    "baseline_label",
    "unit",
    "ratio",
    "better",
    "goal",
    "details",
)


def machine() -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.platform()}"
    )


def _significant(number: float) -> float:
    """Return `number` rounded to six significant digits."""
    return float(f"{number:.6g}")


def write_result(
    name: str,
    *,
    value: float,
    value_label: str,
    baseline: float,
    baseline_label: str,
    unit: str,
    better: str,
    command: str,
    goal: str | None = None,
    details: dict | None = None,
    directory: Path = RESULTS,
) -> Path:
    """Write one run of a benchmark as JSON; return the file's path."""
    if better not in ("higher", "lower"):
        raise ValueError(f"better must be 'higher' or 'lower', not {better!r}")
    if not baseline:
        raise ValueError(
            f"{name}: invalid baseline {baseline!r}; give a nonzero number"
        )

    moment = datetime.now(UTC)
    record = {
        "name": name,
        "date": moment.isoformat(timespec="seconds"),
        "machine": machine(),
        "command": command,
        "value": _significant(value),
        "value_label": value_label,
        "baseline": _significant(baseline),
        "baseline_label": baseline_label,
        "unit": unit,
        "ratio": _significant(value / baseline),
        "better": better,
        "goal": goal,
        "details": details or {},
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}-{moment:%Y%m%dT%H%M%S}.json"
    copy = 1
    while path.exists():
        path = directory / f"{name}-{moment:%Y%m%dT%H%M%S}-{copy}.json"
        copy += 1
    path.write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n")
    return path


def read_results(directory: Path = RESULTS) -> dict[str, list[dict]]:
    """Return the runs in `directory` by benchmark name, oldest first."""
    runs: dict[str, list[dict]] = {}
    for path in sorted(directory.glob("*.json")):
        record = json.loads(path.read_text())
        missing = [field for field in FIELDS if field not in record]
        if missing:
            raise ValueError(f"{path.name}: missing {', '.join(missing)}")
        runs.setdefault(record["name"], []).append(record)
    for records in runs.values():
        records.sort(key=lambda record: record["date"])
    return runs


def compare(directory: Path = RESULTS) -> str:
    """Return a Markdown table of the last two runs of each benchmark."""
    lines = [
        "| benchmark | previous run | ratio | last run | ratio | better |",
        "|---|---|---:|---|---:|---|",
    ]
    for name, records in sorted(read_results(directory).items()):
        last = records[-1]
        previous = records[-2] if len(records) > 1 else None
        before = (
            f"{previous['date'][:10]} | {previous['ratio']:.3g}"
            if previous
            else "(none) | "
        )
        lines.append(
            f"| {name} | {before} | {last['date'][:10]} | {last['ratio']:.3g} "
            f"| {last['better']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(compare(Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS))
