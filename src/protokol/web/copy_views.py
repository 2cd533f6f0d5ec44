"""Pages of protocol copies made in the background: the job's state and its file.

A copy request from the consultation page that is too large to render in
the request becomes a copy job (documents.jobs). Its page shows the state
and reloads itself until the worker has made the copy, then links the file.
Only the requester may read the job, as in the API.
"""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from protokol.api.api import pdf_response
from protokol.documents import collected as collected_data
from protokol.documents import jobs as copy_jobs
from protokol.documents.models import CopyJobStatus
from protokol.errors import Gone, NotFound
from protokol.web.views import not_found

# Seconds between two reloads of the page of a queued or running job.
REFRESH_SECONDS = 5


@login_required
def copy_job(request, token: str):
    """Show the state of the requester's copy job, with the file once it is made."""
    try:
        job = copy_jobs.find_job(request.user, token)
    except NotFound:
        return not_found(request)
    except Gone as exc:
        return render(request, "web/error.html", {"error": exc}, status=exc.status)

    waiting = job.status in (CopyJobStatus.QUEUED, CopyJobStatus.RUNNING)
    context = {
        "job": job,
        "consultation": job.consultation,
        "waiting": waiting,
        "refresh_seconds": REFRESH_SECONDS,
        "full": job.personal_data == collected_data.FULL,
        "expires_at": (
            copy_jobs.expiry_time(job.finished_at) if job.finished_at else None
        ),
    }
    return render(request, "web/copy_job.html", context)


@login_required
def copy_job_file(request, token: str):
    """Download the copy of a done job; send an unfinished job to its page."""
    try:
        job = copy_jobs.find_job(request.user, token)
    except NotFound:
        return not_found(request)
    except Gone as exc:
        return render(request, "web/error.html", {"error": exc}, status=exc.status)
    if job.status != CopyJobStatus.DONE:
        return redirect("web:copy_job", token=job.token)

    try:
        content = copy_jobs.job_content(job)
    except NotFound as exc:
        # The job belongs to the requester, but its file is missing, for
        # example deleted by hand.
        return render(request, "web/error.html", {"error": exc}, status=exc.status)
    return pdf_response(job.file_name, content)
