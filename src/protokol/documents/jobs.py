"""Large copies in the background: queueing, rendering by the worker, download.

A copy request whose public messages and attachments take more than
PROTOKOL_COPY_BACKGROUND_BYTES gets a CopyJob instead of the PDF. The task
worker renders it through `issue_copy` with the requester as the actor, so
permissions are checked again and the issuance is journaled as `copy:read`
by the requester. The finished file is stored under
$PROTOKOL_DATA_DIR/copy-jobs, encrypted when it prints personal data in full,
for PROTOKOL_COPY_JOB_KEEP_SECONDS; then the job expires, the scheduled task
`expire_copy_jobs` deletes the file, and the job URL returns 410.
"""

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from protokol.documents import cache as copy_cache
from protokol.documents import collected as collected_data
from protokol.documents.models import CopyJob, CopyJobStatus
from protokol.errors import Gone, NotFound, ProtokolError
from protokol.security.services import record_denial

log = structlog.get_logger(__name__)

TOKEN_BYTES = 16
# A job token as issued: TOKEN_BYTES random bytes in lower-case hex.
TOKEN_FORMAT = re.compile(rf"[0-9a-f]{{{2 * TOKEN_BYTES}}}")


@dataclass(frozen=True)
class CopyRequest:
    """The outcome of a copy request: the PDF now, or a queued job."""

    file_name: str = ""
    content: bytes = b""
    job: CopyJob | None = None


def jobs_dir() -> Path:
    """Return the directory of finished background copies."""
    return Path(settings.CONFIG.data_dir) / "copy-jobs"


def input_bytes(detail: dict) -> int:
    """Return the bytes of public message text and attachments that a copy prints."""
    messages = sum(
        len(message["text"].encode())
        for message in detail["messages"]
        if message["visibility"] == "public"
    )
    return messages + sum(attachment["size"] for attachment in detail["attachments"])


def request_copy(
    actor, consultation_id, *, language: str = "ru", personal_data: str = "masked"
) -> CopyRequest:
    """Issue a small copy at once, or queue a large one for the task worker.

    Every check of `issue_copy` (language, variant, visibility, permission to
    see personal data, text limit) runs first, so a queued job fails only on
    what changes after the request.
    """
    from protokol.documents import services, tasks

    prepared = services.prepare_copy(
        actor, consultation_id, language=language, personal_data=personal_data
    )
    size = input_bytes(prepared.detail)
    if size <= settings.CONFIG.copy_background_bytes:
        file_name, content = services.issue_prepared(actor, prepared)
        return CopyRequest(file_name=file_name, content=content)

    with transaction.atomic():
        job = CopyJob.objects.create(
            token=secrets.token_hex(TOKEN_BYTES),
            consultation=prepared.consultation,
            requester=actor,
            language=language,
            personal_data=prepared.variant,
            input_bytes=size,
            created_at=timezone.now(),
        )
        # The task row commits with the job, so a kill after the commit
        # cannot leave a queued job without its task.
        tasks.render_copy_job.enqueue(job.token)
    log.info(
        "copy_job_queued",
        job=job.pk,
        consultation_id=prepared.consultation.pk,
        input_bytes=size,
    )
    return CopyRequest(job=job)


def run_job(token: str) -> str:
    """Render the job's copy as its requester and store it; return the status."""
    from protokol.documents.services import issue_copy

    job = CopyJob.objects.select_related("requester").get(token=token)
    # A running job whose worker died is rendered again once `protokol
    # worker` requeues its task.
    if job.status not in (CopyJobStatus.QUEUED, CopyJobStatus.RUNNING):
        return job.status
    CopyJob.objects.filter(pk=job.pk).update(status=CopyJobStatus.RUNNING)

    try:
        file_name, content = issue_copy(
            job.requester,
            job.consultation_id,
            language=job.language,
            personal_data=job.personal_data,
            job=token,
        )
    except ProtokolError as error:
        _finish(
            job,
            status=CopyJobStatus.FAILED,
            error={"status": error.status, **error.as_dict()},
        )
        log.warning("copy_job_failed", job=job.pk, error=error.code)
        return CopyJobStatus.FAILED
    except Exception:
        # Anything else is a bug or a broken tool (WeasyPrint, the PKI); the
        # job must not stay "running", and the task result keeps the traceback.
        _finish(
            job,
            status=CopyJobStatus.FAILED,
            error={
                "status": 500,
                "error": "internal_error",
                "message": gettext("The copy could not be made; try again later."),
                "field": None,
            },
        )
        log.exception("copy_job_crashed", job=job.pk)
        raise

    copy_cache.store(token, content, encrypted=_encrypted(job), directory=jobs_dir())
    _finish(job, status=CopyJobStatus.DONE, file_name=file_name)
    log.info("copy_job_done", job=job.pk, bytes=len(content))
    return CopyJobStatus.DONE


def _finish(job: CopyJob, *, status: str, **fields) -> None:
    """Record the job's final status and queue the run that will expire it."""
    from protokol.documents import tasks

    finished_at = timezone.now()
    CopyJob.objects.filter(pk=job.pk).update(
        status=status, finished_at=finished_at, **fields
    )
    tasks.schedule_expiry(run_after=expiry_time(finished_at))


def _encrypted(job: CopyJob) -> bool:
    return job.personal_data == collected_data.FULL


def expiry_time(finished_at: datetime) -> datetime:
    """Return when a job finished at `finished_at` expires."""
    return finished_at + timedelta(seconds=settings.CONFIG.copy_job_keep_seconds)


def _expired(job: CopyJob) -> bool:
    if job.status == CopyJobStatus.EXPIRED:
        return True
    if job.finished_at is None:
        return False
    return expiry_time(job.finished_at) <= timezone.now()


def expire_jobs() -> int:
    """Delete the files of finished jobs past their keep time; return how many.

    Each job is marked expired, and keeps its row, so that its URL returns
    410 rather than 404. A failed job has no file and is only marked. A job
    left "running" by a killed worker finishes, and so expires, after
    `protokol worker` requeues its task.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.CONFIG.copy_job_keep_seconds)
    due = CopyJob.objects.filter(
        status__in=[CopyJobStatus.DONE, CopyJobStatus.FAILED],
        finished_at__lte=cutoff,
    )
    expired = 0
    for job in due.only("pk", "token", "personal_data", "status"):
        # Only a job still in the status read here is marked, so two runs at
        # the same time delete and count each job once.
        marked = CopyJob.objects.filter(pk=job.pk, status=job.status).update(
            status=CopyJobStatus.EXPIRED
        )
        if not marked:
            continue
        copy_cache.remove(job.token, encrypted=_encrypted(job), directory=jobs_dir())
        expired += 1
    if expired:
        log.info("copy_jobs_expired", count=expired, cutoff=cutoff.isoformat())
    return expired


def next_expiry() -> datetime | None:
    """Return when the next finished job expires, or None when none is waiting."""
    finished_at = (
        CopyJob.objects.filter(status__in=[CopyJobStatus.DONE, CopyJobStatus.FAILED])
        .order_by("finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
    return None if finished_at is None else expiry_time(finished_at)


def get_job(actor, token: str) -> tuple[CopyJob, bytes | None]:
    """Return the requester's job and, once it is done, the copy's bytes."""
    job = find_job(actor, token)
    if job.status != CopyJobStatus.DONE:
        return job, None
    return job, job_content(job)


def find_job(actor, token: str) -> CopyJob:
    """Return the requester's job `token`.

    Raises NotFound for another user's job, so tokens cannot be probed, and
    Gone (410) for an expired one.
    """
    token = str(token)
    job = None
    # Only a well-formed token is looked up, because PostgreSQL rejects a NUL
    # in a query parameter and no other text can name a job.
    if TOKEN_FORMAT.fullmatch(token):
        job = CopyJob.objects.filter(token=token, requester_id=actor.pk).first()
    if job is None:
        record_denial(
            actor,
            object_type="copy_job",
            # ascii() escapes the characters that the journal cannot store.
            object_id=ascii(token)[1:-1][:64],
            reason="not_found",
            operation="read",
        )
        raise NotFound(gettext("Copy job not found."), field="job")
    if _expired(job):
        raise Gone(
            gettext(
                "This copy job expired and its file was deleted; request a new "
                "copy of the protocol."
            ),
            field="job",
        )
    return job


def job_content(job: CopyJob) -> bytes:
    """Return the stored copy of a done job; raise NotFound when it is missing."""
    content = copy_cache.load(
        job.token, encrypted=_encrypted(job), directory=jobs_dir()
    )
    if content is None:
        raise NotFound(
            gettext("The file of this copy job is gone; request the copy again."),
            field="job",
        )
    return content
