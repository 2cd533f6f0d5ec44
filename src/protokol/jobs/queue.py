"""Enqueueing of self-scheduling tasks: at most one waiting run of each."""

from django.db import transaction
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult


def enqueue_once(task, *, run_after=None) -> bool:
    """Queue `task` unless a run of it is READY; return whether it was queued.

    A task that queues its next run does so again when it is rerun after
    its worker died, and this check keeps that from starting a second chain
    of runs. The READY rows are locked (on PostgreSQL) so that two callers
    queue one run, not two.
    """
    with transaction.atomic():
        waiting = DBTaskResult.objects.select_for_update().filter(
            task_path=task.module_path, status=TaskResultStatus.READY
        )
        if waiting.exists():
            return False
        if run_after is None:
            task.enqueue()
        else:
            task.using(run_after=run_after).enqueue()
    return True
