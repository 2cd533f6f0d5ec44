"""Background tasks of the documents app, run by `protokol db_worker`.

django-tasks has no periodic schedule, so each finished copy job queues an
`expire_copy_jobs` run for when it expires, unless an earlier run is
already waiting, and each run queues the next one for the job that expires
next.
"""

from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django_tasks import task
from django_tasks_db.models import DBTaskResult


@task()
def render_copy_job(token: str) -> str:
    """Render, sign and store the copy of job `token`; return its final status."""
    from protokol.documents import jobs

    return jobs.run_job(token)


@task()
def expire_copy_jobs() -> int:
    """Delete the files of expired copy jobs and queue the next run; return count."""
    from protokol.documents import jobs

    expired = jobs.expire_jobs()
    upcoming = jobs.next_expiry()
    if upcoming is not None:
        schedule_expiry(run_after=upcoming)
    return expired


def schedule_expiry(*, run_after: datetime) -> bool:
    """Queue an expiry run at `run_after` unless one waits to run by then.

    Returns whether a run was queued.
    """
    with transaction.atomic():
        # A waiting run without run_after is stored with the maximum date.
        waiting = DBTaskResult.objects.select_for_update().filter(
            Q(run_after__lte=run_after),
            task_path=expire_copy_jobs.module_path,
            status="READY",
        )
        if waiting.exists():
            return False
        expire_copy_jobs.using(run_after=run_after).enqueue()
    return True
