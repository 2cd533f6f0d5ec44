"""Backup and restore throughput on SQLite, against a plain copy of the database.

Builds a fresh demo installation, generates N consultations with `protokol
generate`, then times `protokol backup` and `protokol restore` into a new
empty installation that has the same keys. The baseline, measured in the
same run, is a plain file copy of the SQLite database. Throughput is the
database file's size divided by the time, so the three rates compare. The
times include starting the `protokol` process, and the restore's time
includes its checks (journal verification and every signature). Writes a
JSON result and prints it.
"""

import argparse
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
# Files of an installation's data directory that a restore needs as well.
KEY_FILES = ("master.key", "journal_ed25519.pem", "secret_key", "pki")
MEGABYTE = 1024 * 1024


def protokol(env: dict, *args: str) -> str:
    finished = subprocess.run(
        [*CLI, *args], env=env, check=True, capture_output=True, text=True
    )
    return finished.stdout


def environment(data_dir: Path) -> dict:
    env = {**os.environ, "PROTOKOL_DEMO": "1", "PROTOKOL_DATA_DIR": str(data_dir)}
    env["PROTOKOL_DATABASE_URL"] = f"sqlite:///{data_dir / 'protokol.sqlite3'}"
    env["PROTOKOL_TSA_URL"] = ""
    return env


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def copy_keys(source: Path, target: Path) -> None:
    for name in KEY_FILES:
        path = source / name
        if path.is_dir():
            shutil.copytree(path, target / name)
        elif path.exists():
            shutil.copy2(path, target / name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("consultations", type=int, help="consultations to generate")
    options = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="backup-bench-"))
    source = base / "source"
    source.mkdir()
    env = environment(source)
    protokol(env, "migrate", "--no-input", "-v", "0")
    protokol(env, "seed-demo")
    protokol(env, "pki", "init")
    generate_seconds = timed(
        lambda: protokol(
            env, "generate", str(options.consultations), "--seed", "1", "-v", "0"
        )
    )
    database = source / "protokol.sqlite3"
    database_bytes = database.stat().st_size

    copy_seconds = timed(lambda: shutil.copyfile(database, base / "copy.sqlite3"))
    backup_path = base / "bench.backup"
    backup_seconds = timed(lambda: protokol(env, "backup", str(backup_path), "-v0"))

    target = base / "target"
    target.mkdir()
    copy_keys(source, target)
    target_env = environment(target)
    restore_seconds = timed(
        lambda: protokol(target_env, "restore", str(backup_path), "-v0")
    )

    megabytes = database_bytes / MEGABYTE
    numbers = {
        "consultations": options.consultations,
        "database_mb": round(megabytes, 1),
        "backup_mb": round(backup_path.stat().st_size / MEGABYTE, 1),
        "generate_s": round(generate_seconds, 1),
        "copy_s": round(copy_seconds, 2),
        "copy_mb_per_s": round(megabytes / copy_seconds, 1),
        "backup_s": round(backup_seconds, 1),
        "backup_mb_per_s": round(megabytes / backup_seconds, 1),
        "restore_s": round(restore_seconds, 1),
        "restore_mb_per_s": round(megabytes / restore_seconds, 1),
        "backup_vs_copy": round(backup_seconds / copy_seconds, 1),
        "restore_vs_copy": round(restore_seconds / copy_seconds, 1),
    }
    command = f"python bench/backup_bench.py {options.consultations}"
    write_result(
        "backup",
        value=backup_seconds,
        value_label="protokol backup create",
        baseline=copy_seconds,
        baseline_label="copying the database files",
        unit="s",
        better="lower",
        command=command,
        details=numbers,
    )
    print(json.dumps(numbers, indent=2))
    shutil.rmtree(base)


if __name__ == "__main__":
    main()
