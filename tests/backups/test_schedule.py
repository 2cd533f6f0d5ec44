"""The worker's scheduled backups: a real db_worker runs them and keeps the newest."""

import signal

import pytest

from notifications.conftest import wait_for

pytestmark = pytest.mark.django_db(databases=[])

KEEP = 2
RUNS = KEEP + 2
WAIT_SECONDS = 180


def finished_runs(installation) -> list[str]:
    rows = installation.query(
        "SELECT status FROM django_tasks_database_dbtaskresult "
        "WHERE task_path = 'protokol.backups.tasks.scheduled_backup' "
        "AND status IN ('SUCCESSFUL', 'FAILED')"
    )
    return [row[0] for row in rows]


def test_worker_backs_up_and_keeps_newest(source, backup_file, installations, tmp_path):
    backup_dir = tmp_path / "scheduled"
    settings_env = {
        "PROTOKOL_BACKUP_DIR": str(backup_dir),
        "PROTOKOL_BACKUP_KEEP": str(KEEP),
        "PROTOKOL_BACKUP_INTERVAL_SECONDS": "0.5",
    }
    live = installations.new("scheduled", keys_from=source, **settings_env)
    live.protokol("restore", backup_file, "-v0")

    first = live.protokol("backup", "--schedule")
    again = live.protokol("backup", "--schedule")
    worker = live.start("db_worker", "--interval", "0.1", "--no-startup-delay")
    try:
        wait_for(
            lambda: len(finished_runs(live)) >= RUNS,
            f"{RUNS} scheduled runs",
            timeout=WAIT_SECONDS,
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)

    assert "Queued the scheduled backup" in first.stdout
    assert "queued already" in again.stdout
    assert set(finished_runs(live)) == {"SUCCESSFUL"}
    kept = sorted(backup_dir.glob("protokol-*.backup"))
    assert len(kept) == KEEP
    assert [
        path.name for path in backup_dir.iterdir() if path.name.startswith(".")
    ] == []

    restored = installations.new("from-schedule", keys_from=source)
    result = restored.protokol("restore", kept[-1], "-v0")
    assert "All checks passed." in result.stdout
    assert restored.journal_root() == live.journal_root()


def test_schedule_without_directory_rejected(source):
    result = source.protokol("backup", "--schedule", check=False)

    assert result.returncode != 0
    assert "PROTOKOL_BACKUP_DIR is not set" in result.stderr
