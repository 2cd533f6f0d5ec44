"""Retention run benchmark: archive or delete the due imported appeals, on SQLite.

Builds a fresh demo installation, imports the packaged 2,000 appeals (those
closed more than 5 years ago are due under the default policy) and copies
the database file. It then times, each on its own copy, `protokol retention
run --dry-run` (finding the due consultations, the baseline), a run that
archives them (default policy) and a run that deletes them (policy `delete`
for every service). Prints one JSON object and writes it under bench/results/.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from record import write_result

CLI = [sys.executable, "-c", "from protokol.cli import main; main()"]
SET_DELETE = """
from protokol.accounts.models import User
from protokol.catalog.models import Service
from protokol.retention.services import set_policy
admin = User.objects.get(username="admin")
for service in Service.objects.all():
    set_policy(admin, service.code, years=5, end_action="delete")
"""


def protokol(env: dict, *args: str) -> str:
    finished = subprocess.run(
        [*CLI, *args], env=env, check=True, capture_output=True, text=True
    )
    return finished.stdout


def timed(env: dict, *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    output = protokol(env, *args)
    return time.perf_counter() - started, output.strip().splitlines()[-1]


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="retention-bench-"))
    source = base / "source"
    source.mkdir()
    env = {**os.environ, "PROTOKOL_DEMO": "1", "PROTOKOL_DATA_DIR": str(source)}
    env.pop("PROTOKOL_DATABASE_URL", None)
    protokol(env, "migrate", "--no-input", "-v", "0")
    protokol(env, "seed-demo")
    protokol(env, "import-appeals")

    results = {}
    for name, args, prepare in [
        ("dry_run", ("retention", "run", "--dry-run"), None),
        ("archive", ("retention", "run"), None),
        ("delete", ("retention", "run"), SET_DELETE),
    ]:
        copy = base / name
        shutil.copytree(source, copy)
        run_env = {**env, "PROTOKOL_DATA_DIR": str(copy)}
        if prepare:
            protokol(run_env, "shell", "-c", prepare)
        seconds, summary = timed(run_env, *args)
        results[name] = {"seconds": round(seconds, 2), "summary": summary}

    shutil.rmtree(base)
    print(json.dumps(results, ensure_ascii=False, indent=2))
    write_result(
        "retention",
        value=results["archive"]["seconds"],
        value_label="protokol retention run (archive the due appeals)",
        baseline=results["dry_run"]["seconds"],
        baseline_label="protokol retention run --dry-run",
        unit="s",
        better="lower",
        command="python bench/retention_bench.py",
        details=results,
    )


if __name__ == "__main__":
    main()
