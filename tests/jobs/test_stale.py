"""`protokol worker` requeues the tasks that dead workers left RUNNING."""

import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.management.commands import db_worker
from django_tasks_db.models import DBTaskResult

from protokol.jobs import stale
from protokol.notifications.tasks import dispatch_entry


@pytest.fixture
def dead_pid() -> int:
    """Return the process id of a process that has exited."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def running_task(worker: str, *, started_seconds_ago: float = 0) -> DBTaskResult:
    """Enqueue a task and mark it RUNNING as claimed by `worker`."""
    result = dispatch_entry.enqueue(0)
    DBTaskResult.objects.filter(pk=result.id).update(
        status="RUNNING",
        worker_ids=[worker],
        started_at=timezone.now() - timedelta(seconds=started_seconds_ago),
    )
    return DBTaskResult.objects.get(pk=result.id)


def status(result: DBTaskResult) -> str:
    return DBTaskResult.objects.get(pk=result.pk).status


def this_host() -> str:
    return socket.gethostname()[: stale.HOST_CHARACTERS].replace(":", "-")


def test_worker_id_names_host_and_process():
    host, pid, suffix = stale.worker_id().split(":")

    assert host == this_host()
    assert int(pid) > 0
    assert len(suffix) == 8
    assert len(stale.worker_id()) <= 64


def test_dead_worker_task_requeued(db, dead_pid):
    task = running_task(f"{this_host()}:{dead_pid}:abcdefgh")

    requeued = stale.requeue_stale_tasks()

    assert requeued == [str(task.pk)]
    assert status(task) == "READY"
    assert stale.requeue_stale_tasks() == []


def test_live_worker_task_kept(db):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        task = running_task(f"{this_host()}:{sleeper.pid}:abcdefgh")

        assert stale.requeue_stale_tasks() == []
        assert status(task) == "RUNNING"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_other_host_waits_for_age(db, settings, dead_pid):
    settings.CONFIG = settings.CONFIG.model_copy(update={"task_stale_seconds": 600})
    recent = running_task(f"elsewhere:{dead_pid}:abcdefgh", started_seconds_ago=60)
    old = running_task(f"elsewhere:{dead_pid}:abcdefgh", started_seconds_ago=700)
    foreign_id = running_task("a-random-worker-id", started_seconds_ago=700)

    requeued = stale.requeue_stale_tasks()

    assert sorted(requeued) == sorted([str(old.pk), str(foreign_id.pk)])
    assert status(recent) == "RUNNING"


def test_zero_turns_age_rule_off(db, settings):
    settings.CONFIG = settings.CONFIG.model_copy(update={"task_stale_seconds": 0})
    task = running_task("elsewhere:1:abcdefgh", started_seconds_ago=10**6)

    assert stale.requeue_stale_tasks() == []
    assert status(task) == "RUNNING"


def test_worker_command_runs_requeued_task(db, dead_pid, monkeypatch):
    # The worker closes old connections between tasks, which would close the
    # test's transaction, and its signal handlers would replace pytest's.
    monkeypatch.setattr(db_worker, "close_old_connections", lambda: None)
    monkeypatch.setattr(db_worker.Worker, "configure_signals", lambda self: None)
    task = running_task(f"{this_host()}:{dead_pid}:abcdefgh")

    call_command("worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)

    result = DBTaskResult.objects.get(pk=task.pk)
    assert result.status == "SUCCESSFUL"
    assert result.return_value == 0
    assert len(result.worker_ids) == 2
    assert result.worker_ids[-1].startswith(f"{this_host()}:")


def test_negative_stale_seconds_rejected(monkeypatch):
    from protokol.settings import Config

    monkeypatch.setenv("PROTOKOL_TASK_STALE_SECONDS", "-1")

    with pytest.raises(ValueError, match="PROTOKOL_TASK_STALE_SECONDS"):
        Config()
