"""Requeue tasks that a dead worker left RUNNING.

django-tasks-db 0.13 marks a task RUNNING when a worker claims it and never
looks at it again, so a task whose worker was killed would never run. A task
is stale when the worker that claimed it runs on this host and its process
is gone, or when it started more than PROTOKOL_TASK_STALE_SECONDS ago. Only
the second rule applies to workers on other hosts, and to ids not made by
`worker_id()`.
"""

import os
import socket
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction

log = structlog.get_logger(__name__)

# django-tasks-db limits worker ids to 64 characters.
HOST_CHARACTERS = 40


def worker_id() -> str:
    """Return a new worker id of the form "host:pid:random"."""
    host = socket.gethostname()[:HOST_CHARACTERS].replace(":", "-")
    return f"{host}:{os.getpid()}:{get_random_string(8)}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        # The process exists but belongs to another user.
        return True
    return True


def _worker_gone(worker: str) -> bool:
    """Return whether `worker` ran on this host and its process has exited.

    A process id that the system gave to a new process since counts as
    alive, so such a task waits for the age rule.
    """
    host, _, rest = worker.partition(":")
    pid, _, _ = rest.partition(":")
    if host != socket.gethostname()[:HOST_CHARACTERS].replace(":", "-"):
        return False
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    return not _process_alive(int(pid))


def stale_reason(result: DBTaskResult, started_before: datetime | None) -> str | None:
    """Return why a RUNNING task is stale ("worker_gone", "too_old"), or None."""
    worker = result.worker_ids[-1] if result.worker_ids else ""
    if worker and _worker_gone(worker):
        return "worker_gone"
    if started_before is not None and (
        result.started_at is None or result.started_at < started_before
    ):
        return "too_old"
    return None


def requeue_stale_tasks() -> list[str]:
    """Set the stale RUNNING tasks back to READY; return their ids.

    The rows are locked (SKIP LOCKED on PostgreSQL, an exclusive
    transaction on SQLite), so two workers that start together never
    requeue one task twice, and a worker that claims a requeued task
    gives it a new start time.
    """
    seconds = settings.CONFIG.task_stale_seconds
    started_before = timezone.now() - timedelta(seconds=seconds) if seconds else None
    requeued = []
    with exclusive_transaction(DBTaskResult.objects.db):
        running = DBTaskResult.objects.running().select_for_update(skip_locked=True)
        for result in running:
            reason = stale_reason(result, started_before)
            if reason is None:
                continue
            result.status = TaskResultStatus.READY
            result.save(update_fields=["status"])
            requeued.append(str(result.id))
            log.warning(
                "task_requeued",
                task_id=str(result.id),
                task=result.task_path,
                worker=result.worker_ids[-1] if result.worker_ids else None,
                started_at=result.started_at.isoformat() if result.started_at else None,
                reason=reason,
            )
    return requeued
