"""The recurring refresh of stale daily aggregates, a django-tasks task
executed by `protokol worker`.

django-tasks has no periodic schedule, so the task enqueues its next run
REFRESH_EVERY_SECONDS later. `protokol analytics-refresh --schedule` queues
the first run.
"""

from datetime import timedelta

from django.utils import timezone
from django_tasks import task

from protokol.analytics.aggregates import refresh_stale
from protokol.jobs.queue import enqueue_once

# Statistics read stale days from the facts, so a few minutes of delay cost
# query time, not correctness.
REFRESH_EVERY_SECONDS = 300


@task()
def refresh_aggregates() -> dict:
    """Recompute the stale days once and schedule the next run."""
    days = refresh_stale()
    schedule_next()
    return {"days": days}


def schedule_next() -> bool:
    """Queue the next run after REFRESH_EVERY_SECONDS unless one is waiting."""
    run_after = timezone.now() + timedelta(seconds=REFRESH_EVERY_SECONDS)
    return enqueue_once(refresh_aggregates, run_after=run_after)


def start_schedule() -> bool:
    """Queue a run now unless one is already waiting; False when one was."""
    return enqueue_once(refresh_aggregates)
