"""Large copies in the background: 202, the db_worker subprocess, the job URL,
and the expiry of finished jobs."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django_tasks_db.models import DBTaskResult
from pydantic import ValidationError

from consultations.conftest import (  # noqa: F401 (fixtures)
    _triggers_restored,
    committed_db,
)
from notifications.conftest import wait_for, worker_process
from protokol.accounts.models import User
from protokol.documents import jobs, tasks
from protokol.documents.models import CopyJob, CopyJobStatus
from protokol.journal.models import JournalAction, JournalEntry
from protokol.settings import Config
from protokol.signing import pki

from .pdf_tools import contains_words, pdf_text


def copy_path(consultation) -> str:
    return f"/api/v1/consultations/{consultation.pk}/protocol.pdf"


def copy_entries(consultation):
    return JournalEntry.objects.filter(
        consultation_id=consultation.pk, action=JournalAction.COPY_READ
    )


def test_small_copy_stays_synchronous(signed_consultation, api_client):
    response = api_client.login("citizen").get(copy_path(signed_consultation))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert not CopyJob.objects.exists()


def test_input_bytes_counts_public_text_and_files():
    detail = {
        "messages": [
            {"text": "Да", "visibility": "public"},
            {"text": "скрыто", "visibility": "internal"},
        ],
        "attachments": [{"size": 1000}, {"size": 24}],
    }

    assert jobs.input_bytes(detail) == len("Да".encode()) + 1024


def settings_environment() -> dict[str, str]:
    """Return the variables that give a subprocess this process's data and PKI.

    Fixtures change settings.CONFIG in place, such as the session's PKI of
    tests/signing/conftest.py, which the access matrix uses. A worker that
    read only os.environ would look for the PKI under PROTOKOL_DATA_DIR and
    fail to seal a copy that this process signed with the session's PKI.
    """
    config = settings.CONFIG
    env = {
        "PROTOKOL_DATA_DIR": str(config.data_dir),
        "PROTOKOL_PKI_DIR": str(pki.pki_dir()),
    }
    if config.master_key_file is not None:
        env["PROTOKOL_MASTER_KEY_FILE"] = str(config.master_key_file)
    return env


@pytest.fixture
def copy_worker(committed_db, tmp_path):  # noqa: F811
    """A `protokol db_worker` subprocess of its own on the test database.

    The notification tests' worker is not shared: after it rendered a copy,
    their e-mail test failed, which is not understood yet.
    """
    arguments = ["db_worker", "--interval", "0.05", "--no-startup-delay"]
    env = settings_environment()
    with worker_process(arguments, tmp_path / "worker.log", env) as process:
        yield process


@pytest.mark.usefixtures("committed_db", "copy_worker", "background_above_one_byte")
def test_large_copy_made_by_worker(signed_consultation, api_client, demo, tmp_path):
    api_client.login("citizen")

    queued = api_client.get(copy_path(signed_consultation))

    assert queued.status_code == 202, queued.content
    body = queued.json()
    assert body["status"] == "queued"
    assert queued["Location"] == body["url"]
    assert body["url"] == f"/api/v1/copy-jobs/{body['job']}"
    assert not copy_entries(signed_consultation).exists()

    def finished():
        response = api_client.get(body["url"])
        return response if response.status_code != 202 else None

    response = wait_for(finished, "the worker to make the copy", timeout=180)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/pdf"
    path = tmp_path / "background.pdf"
    path.write_bytes(response.content)
    assert contains_words(pdf_text(path), signed_consultation.number)

    job = CopyJob.objects.get(token=body["job"])
    assert job.status == CopyJobStatus.DONE
    assert job.requester_id == demo["citizen"].pk
    entry = copy_entries(signed_consultation).get()
    assert entry.actor_id == demo["citizen"].pk
    assert entry.after["job"] == body["job"]
    assert entry.after["bytes"] == len(response.content)


@pytest.mark.usefixtures("background_above_one_byte")
def test_job_hidden_from_other_users(signed_consultation, api_client):
    queued = api_client.login("citizen").get(copy_path(signed_consultation))
    url = queued.json()["url"]

    other = api_client.login("operator").get(url)

    assert other.status_code == 404
    assert other.json()["field"] == "job"


@pytest.mark.usefixtures("background_above_one_byte")
def test_failed_job_returns_error(signed_consultation, api_client, demo):
    queued = api_client.login("operator").get(
        copy_path(signed_consultation) + "?personal_data=full"
    )
    token = queued.json()["job"]
    # Rolled back, so never enqueued: this test runs the task itself. The
    # operator leaves the department before the worker runs the job.
    demo["operator"].departments.clear()

    status = jobs.run_job(token)
    response = api_client.get(queued.json()["url"])

    assert status == CopyJobStatus.FAILED
    assert response.status_code == 404
    assert response.json()["field"] == "consultation_id"


def test_checks_run_before_queueing(signed_consultation, api_client, monkeypatch):
    monkeypatch.setattr(settings.CONFIG, "copy_background_bytes", 1)
    api_client.login("auditor")

    response = api_client.get(copy_path(signed_consultation) + "?personal_data=full")

    assert response.status_code == 403
    assert not CopyJob.objects.exists()
    denial = JournalEntry.objects.filter(action=JournalAction.ACCESS_DENIED).get()
    assert denial.actor_id == User.objects.get(username="auditor").pk


def finished_job(api_client, consultation, username="citizen", query=""):
    """Queue the copy as `username`, run the task in this process; return the job."""
    queued = api_client.login(username).get(copy_path(consultation) + query)
    assert queued.status_code == 202, queued.content
    token = queued.json()["job"]
    # Rolled back, so never enqueued: the test runs the task itself.
    assert jobs.run_job(token) == CopyJobStatus.DONE
    return CopyJob.objects.get(token=token)


def job_file(job) -> Path:
    suffix = ".pdf.enc" if job.personal_data == "full" else ".pdf"
    return jobs.jobs_dir() / job.token[:2] / f"{job.token}{suffix}"


def age(job, seconds: float) -> None:
    """Move the job's finish time `seconds` into the past."""
    CopyJob.objects.filter(pk=job.pk).update(
        finished_at=job.finished_at - timedelta(seconds=seconds)
    )


def expiry_runs():
    return DBTaskResult.objects.filter(
        task_path=tasks.expire_copy_jobs.module_path, status="READY"
    )


@pytest.mark.usefixtures("background_above_one_byte")
def test_finished_job_queues_expiry(signed_consultation, api_client):
    job = finished_job(api_client, signed_consultation)

    run = expiry_runs().get()
    keep = timedelta(seconds=settings.CONFIG.copy_job_keep_seconds)
    assert run.run_after == job.finished_at + keep
    assert job_file(job).exists()
    # A later job expires later, so the waiting run is enough for it.
    assert not tasks.schedule_expiry(run_after=job.finished_at + 2 * keep)
    assert expiry_runs().count() == 1


@pytest.mark.usefixtures("background_above_one_byte", "english_pages")
def test_expired_job_file_deleted(signed_consultation, api_client):
    job = finished_job(api_client, signed_consultation)
    age(job, settings.CONFIG.copy_job_keep_seconds + 1)
    # This run stands for the queued one, which the worker would be running.
    expiry_runs().delete()

    expired = tasks.expire_copy_jobs.call()
    response = api_client.get(f"/api/v1/copy-jobs/{job.token}")

    assert expired == 1
    assert not job_file(job).exists()
    assert CopyJob.objects.get(pk=job.pk).status == CopyJobStatus.EXPIRED
    assert response.status_code == 410
    body = response.json()
    assert body["error"] == "gone"
    assert body["field"] == "job"
    assert "request a new copy" in body["message"]
    # No other job waits to expire, so no further run is queued.
    assert not expiry_runs().exists()


@pytest.mark.usefixtures("background_above_one_byte")
def test_expiry_keeps_fresh_jobs(signed_consultation, api_client):
    old = finished_job(api_client, signed_consultation)
    fresh = finished_job(
        api_client, signed_consultation, "operator", "?personal_data=full"
    )
    age(old, settings.CONFIG.copy_job_keep_seconds + 1)
    # This run stands for the queued one, which the worker would be running.
    expiry_runs().delete()

    expired = tasks.expire_copy_jobs.call()

    assert expired == 1
    assert not job_file(old).exists()
    assert job_file(fresh).exists()
    assert CopyJob.objects.get(pk=fresh.pk).status == CopyJobStatus.DONE
    keep = timedelta(seconds=settings.CONFIG.copy_job_keep_seconds)
    assert expiry_runs().get().run_after == fresh.finished_at + keep
    response = api_client.login("operator").get(f"/api/v1/copy-jobs/{fresh.token}")
    assert response.status_code == 200


@pytest.mark.usefixtures("background_above_one_byte")
def test_job_past_keep_time_gone(signed_consultation, api_client):
    job = finished_job(api_client, signed_consultation)
    age(job, settings.CONFIG.copy_job_keep_seconds)

    response = api_client.get(f"/api/v1/copy-jobs/{job.token}")

    # The worker has not run the expiry yet, but the job URL returns 410.
    assert response.status_code == 410
    assert job_file(job).exists()


@pytest.mark.usefixtures("background_above_one_byte")
def test_failed_job_expires(signed_consultation, api_client, demo):
    queued = api_client.login("operator").get(
        copy_path(signed_consultation) + "?personal_data=full"
    )
    token = queued.json()["job"]
    demo["operator"].departments.clear()
    jobs.run_job(token)
    job = CopyJob.objects.get(token=token)
    age(job, settings.CONFIG.copy_job_keep_seconds + 1)

    assert tasks.expire_copy_jobs.call() == 1
    assert CopyJob.objects.get(pk=job.pk).status == CopyJobStatus.EXPIRED
    assert api_client.get(queued.json()["url"]).status_code == 410


def test_keep_seconds_must_be_positive():
    with pytest.raises(ValidationError, match="PROTOKOL_COPY_JOB_KEEP_SECONDS"):
        Config(copy_job_keep_seconds=0)
