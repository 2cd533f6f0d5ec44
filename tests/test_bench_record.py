"""The JSON files that the benchmarks write under bench/results/."""

import importlib.util
import json
import math
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def load_record():
    spec = importlib.util.spec_from_file_location("record", BENCH / "record.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


record = load_record()


def write(directory: Path, name: str = "api-sqlite", **changes):
    arguments = {
        "value": 300.0,
        "value_label": "API writes",
        "baseline": 1200.0,
        "baseline_label": "GET /healthz",
        "unit": "requests/s",
        "better": "higher",
        "command": "make bench (api)",
        "details": {"consultations": 200},
        "directory": directory,
    } | changes
    return record.write_result(name, **arguments)


def test_result_has_every_field_and_ratio(tmp_path):
    path = write(tmp_path, goal="ratio at least 0.2")

    result = json.loads(path.read_text())
    assert tuple(result) == record.FIELDS
    assert result["ratio"] == 0.25
    assert result["goal"] == "ratio at least 0.2"
    assert result["details"] == {"consultations": 200}
    assert "cores" in result["machine"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"better": "faster"}, "better must be 'higher' or 'lower'"),
        ({"baseline": 0.0}, "give a nonzero number"),
    ],
)
def test_result_without_baseline_or_direction_rejected(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        write(tmp_path, **changes)
    assert list(tmp_path.iterdir()) == []


def test_compare_shows_last_two_runs(tmp_path):
    first = write(tmp_path, value=240.0)
    second = write(tmp_path, value=360.0)
    later = json.loads(second.read_text()) | {"date": "2999-01-01T00:00:00+00:00"}
    second.write_text(json.dumps(later))
    write(tmp_path, name="import-sqlite", better="lower", value=60.0, baseline=2.0)

    table = record.compare(tmp_path).splitlines()

    assert first.exists()
    assert table[2].startswith("| api-sqlite | ")
    assert "| 0.2 | 2999-01-01 | 0.3 | higher |" in table[2]
    assert table[3].startswith("| import-sqlite | (none) | ")
    assert table[3].endswith("| 30 | lower |")


def test_read_names_file_missing_fields(tmp_path):
    (tmp_path / "old.json").write_text(json.dumps({"name": "api", "ratio": 1}))

    with pytest.raises(ValueError, match="old.json: missing date, machine"):
        record.read_results(tmp_path)


def test_committed_results_follow_format():
    runs = record.read_results()

    assert runs, "bench/results/ holds no results"
    for records in runs.values():
        for result in records:
            assert result["better"] in ("higher", "lower")
            expected = result["value"] / result["baseline"]
            assert math.isclose(result["ratio"], expected, rel_tol=1e-3), result
