"""The scheduled retention run, a django-tasks task executed by `protokol worker`.

django-tasks has no periodic schedule, so the task enqueues its next run
with `run_after` PROTOKOL_RETENTION_EVERY_SECONDS later.
"""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_tasks import task

from protokol.jobs.queue import enqueue_once
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


def schedule_next() -> bool:
    """Queue the next run after the configured interval; False when turned off."""
    every = settings.CONFIG.retention_every_seconds
    if every <= 0:
        return False
    run_after = timezone.now() + timedelta(seconds=every)
    # A rerun after its worker died finds the run it queued before and
    # queues none.
    enqueue_once(apply_retention, run_after=run_after)
    return True


def start_schedule() -> bool:
    """Queue a run now unless one is already waiting; False when one was."""
    return enqueue_once(apply_retention)
