"""The scheduled retention run, a django-tasks task executed by `db_worker`.

django-tasks has no periodic schedule, so the task enqueues its next run
with `run_after` PROTOKOL_RETENTION_EVERY_SECONDS later.
"""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_tasks import task
from django_tasks_db.models import DBTaskResult

from protokol.retention import disposal


@task()
def apply_retention() -> dict:
    """Apply the retention policies once and schedule the next run; return counts."""
    result = disposal.run()
    schedule_next()
    return {
        "due": len(result.due),
        "disposed": len(result.disposals),
        "failed": len(result.failed),
    }


def pending_runs() -> int:
    """Count the queued runs of apply_retention that have not started."""
    return DBTaskResult.objects.filter(
        task_path=apply_retention.module_path, status="READY"
    ).count()


def schedule_next() -> bool:
    """Queue the next run after the configured interval; False when turned off."""
    every = settings.CONFIG.retention_every_seconds
    if every <= 0:
        return False
    run_after = timezone.now() + timedelta(seconds=every)
    apply_retention.using(run_after=run_after).enqueue()
    return True


def start_schedule() -> bool:
    """Queue a run now unless one is already waiting; False when one was."""
    if pending_runs():
        return False
    apply_retention.enqueue()
    return True
