"""The worker's scheduled backup: a task that runs, prunes and queues its next run.

django-tasks has no periodic schedule, so each run enqueues the next one with
`run_after`, as `notifications.tasks.deliver` does for retries.
`protokol backup --schedule` queues the first run.
"""

from datetime import timedelta

import structlog
from django.conf import settings
from django.utils import timezone
from django_tasks import task

from protokol.backups import services
from protokol.jobs.queue import enqueue_once

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
        directory.mkdir(parents=True, exist_ok=True)
        services.create_backup(services.scheduled_path(directory, started))
        services.prune(directory, config.backup_keep)
    except Exception as error:
        # The next run is queued below either way, so one failure does not
        # end the schedule; the failure is logged and the task marked failed.
        log.error("backup_failed", directory=str(directory), error=str(error))
        enqueue_once(scheduled_backup, run_after=next_run)
        raise
    enqueue_once(scheduled_backup, run_after=next_run)
    return "done"


def schedule_backups() -> bool:
    """Queue a scheduled backup to run now unless one is queued; return if queued."""
    if settings.CONFIG.backup_dir is None:
        raise BackupsNotConfigured(
            "PROTOKOL_BACKUP_DIR is not set: set it to the directory of the "
            "scheduled backups."
        )
    return enqueue_once(scheduled_backup)
