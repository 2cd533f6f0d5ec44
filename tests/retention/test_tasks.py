"""The scheduled retention task of the django-tasks database backend."""

import os
import subprocess
import sys

import pytest
from django_tasks_db.models import DBTaskResult

from consultations.factories import consultation_in
from notifications.conftest import (  # noqa: F401 - fixtures of committed rows
    WAIT_SECONDS,
    _triggers_restored,
    committed_db,
    database_url,
    smtp_server,
)
from protokol.accounts.demo import seed_demo
from protokol.accounts.models import User
from protokol.consultations.models import Status
from protokol.retention import tasks
from protokol.retention.models import Disposal

from .conftest import close_years_ago


def queued() -> list[DBTaskResult]:
    return list(
        DBTaskResult.objects.filter(
            task_path=tasks.apply_retention.module_path, status="READY"
        )
    )


def test_schedule_queues_once(demo):
    assert tasks.start_schedule() is True
    assert tasks.start_schedule() is False

    assert len(queued()) == 1


def test_task_applies_and_requeues(demo, archived, settings):
    archived(6)

    counts = tasks.apply_retention.call()

    assert counts == {"due": 1, "disposed": 1, "failed": 0}
    assert Disposal.objects.count() == 1
    (next_run,) = queued()
    assert next_run.run_after is not None


def test_task_once_when_interval_zero(demo, settings):
    settings.CONFIG = settings.CONFIG.model_copy(update={"retention_every_seconds": 0})

    tasks.apply_retention.call()

    assert queued() == []


@pytest.mark.usefixtures("committed_db")
def test_db_worker_runs_scheduled_task():
    seed_demo()
    users = {user.username: user for user in User.objects.all()}
    consultation = consultation_in(users, Status.WITHDRAWN)
    close_years_ago(consultation, 6)
    tasks.start_schedule()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "PROTOKOL_DATABASE_URL": database_url(),
    }

    finished = subprocess.run(
        [
            sys.executable,
            "-c",
            "from protokol.cli import main; main()",
            "db_worker",
            "--batch",
            "--no-startup-delay",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
        check=False,
    )

    assert finished.returncode == 0, finished.stderr
    disposal = Disposal.objects.get()
    assert disposal.consultation_id == consultation.pk
    assert disposal.end_action == "archive"
    # The run queued the next one a day later, which --batch leaves waiting.
    assert len(queued()) == 1
