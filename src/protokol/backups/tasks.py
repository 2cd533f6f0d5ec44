"""The worker's scheduled backup: a task that runs, prunes and queues its next run.

django-tasks has no periodic schedule, so each run enqueues the next one with
`run_after`, as `notifications.tasks.deliver` does for retries.
`protokol backup --schedule` queues the first run.
"""

from datetime import timedelta

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import task
from django_tasks_db.models import DBTaskResult

from protokol.backups import services

log = structlog.get_logger(__name__)


class BackupsNotConfigured(Exception):
    """PROTOKOL_BACKUP_DIR is not set."""


@task()
def scheduled_backup() -> str:
    """Write a backup into PROTOKOL_BACKUP_DIR, keep the newest N, queue the next."""
    config = settings.CONFIG
    if config.backup_dir is None:
        log.warning("backup_schedule_off", reason="PROTOKOL_BACKUP_DIR is not set")
        return "off"

    started = timezone.now()
    next_run = started + timedelta(seconds=config.backup_interval_seconds)
    directory = config.backup_dir.expanduser()
    try:
        services.create_backup(services.scheduled_path(directory, started))
        services.prune(directory, config.backup_keep)
    except Exception as error:
        # The next run is queued below either way, so one failure does not
        # end the schedule; the failure is logged and the task marked failed.
        log.error("backup_failed", directory=str(directory), error=str(error))
        _queue(run_after=next_run)
        raise
    _queue(run_after=next_run)
    return "done"


def schedule_backups() -> bool:
    """Queue a scheduled backup to run now unless one is queued; return if queued."""
    if settings.CONFIG.backup_dir is None:
        raise BackupsNotConfigured(
            "PROTOKOL_BACKUP_DIR is not set: set it to the directory of the "
            "scheduled backups."
        )
    return _queue(run_after=None)


def _queue(*, run_after) -> bool:
    with transaction.atomic():
        waiting = DBTaskResult.objects.select_for_update().filter(
            task_path=scheduled_backup.module_path, status="READY"
        )
        if waiting.exists():
            return False
        if run_after is None:
            scheduled_backup.enqueue()
        else:
            scheduled_backup.using(run_after=run_after).enqueue()
    return True
