"""Copies from the consultation page: the full-data link and large copies as jobs."""

import pytest

from protokol.documents import jobs
from protokol.documents.models import CopyJob, CopyJobStatus
from protokol.journal.models import JournalAction, JournalEntry

from .pdf_tools import contains_words, pdf_text
from .test_copy_jobs import copy_entries


def copy_url(consultation, query: str = "") -> str:
    return f"/consultations/{consultation.pk}/protocol.pdf{query}"


@pytest.mark.parametrize(
    ("username", "offered"),
    [
        ("citizen", True),
        ("operator", True),
        ("reviewer", True),
        ("auditor", False),
        ("admin", False),
    ],
)
def test_page_offers_full_copy(login_as, signed_consultation, username, offered):
    page = login_as(username).get(f"/consultations/{signed_consultation.pk}/")

    assert page.status_code == 200
    full_link = copy_url(signed_consultation, "?lang=ru&amp;personal_data=full")
    assert (full_link in page.content.decode()) is offered


def test_full_copy_from_page(login_as, signed_consultation, demo):
    response = login_as("citizen").get(
        copy_url(signed_consultation, "?personal_data=full")
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        f'attachment; filename="protocol-{signed_consultation.pk}-ru-full.pdf"'
    )
    entry = copy_entries(signed_consultation).get()
    assert entry.actor_id == demo["citizen"].pk
    assert entry.after["personal_data"] == "full"


def test_full_copy_forbidden_on_page(login_as, signed_consultation, demo):
    response = login_as("auditor").get(
        copy_url(signed_consultation, "?personal_data=full")
    )

    assert response.status_code == 403
    assert not copy_entries(signed_consultation).exists()
    denial = JournalEntry.objects.get(action=JournalAction.ACCESS_DENIED)
    assert denial.actor_id == demo["auditor"].pk


@pytest.mark.usefixtures("background_above_one_byte")
def test_large_copy_from_page_becomes_job(
    login_as, signed_consultation, demo, tmp_path
):
    client = login_as("citizen")

    queued = client.get(copy_url(signed_consultation, "?lang=en"))

    job = CopyJob.objects.get()
    page_url = f"/copy-jobs/{job.token}/"
    file_url = f"/copy-jobs/{job.token}/file/"
    assert queued.status_code == 302
    assert queued["Location"] == page_url
    assert job.requester_id == demo["citizen"].pk
    assert job.language == "en"
    assert not copy_entries(signed_consultation).exists()

    waiting = client.get(page_url)
    assert waiting.status_code == 200
    text = waiting.content.decode()
    assert 'data-status="queued"' in text
    assert '<meta http-equiv="refresh" content="5">' in text
    assert file_url not in text
    early = client.get(file_url)
    assert early.status_code == 302
    assert early["Location"] == page_url

    # Rolled back, so never enqueued: the test runs the task itself.
    assert jobs.run_job(job.token) == CopyJobStatus.DONE
    done = client.get(page_url)
    assert done.status_code == 200
    text = done.content.decode()
    assert 'data-status="done"' in text
    assert 'http-equiv="refresh"' not in text
    assert file_url in text

    download = client.get(file_url)
    assert download.status_code == 200
    assert download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"] == (
        f'attachment; filename="protocol-{signed_consultation.pk}-en.pdf"'
    )
    path = tmp_path / "copy.pdf"
    path.write_bytes(download.content)
    assert contains_words(pdf_text(path), signed_consultation.number)
    entry = copy_entries(signed_consultation).get()
    assert entry.actor_id == demo["citizen"].pk
    assert entry.after["job"] == job.token
    assert entry.after["bytes"] == len(download.content)


@pytest.mark.usefixtures("background_above_one_byte")
def test_large_full_copy_from_page(login_as, signed_consultation, demo):
    client = login_as("operator")

    queued = client.get(copy_url(signed_consultation, "?personal_data=full"))
    job = CopyJob.objects.get()
    jobs.run_job(job.token)
    download = client.get(f"/copy-jobs/{job.token}/file/")

    assert queued.status_code == 302
    assert job.personal_data == "full"
    assert download.status_code == 200
    assert download["Content-Disposition"].endswith('-ru-full.pdf"')
    # A copy with personal data in full is stored only encrypted.
    stored = jobs.jobs_dir() / job.token[:2] / f"{job.token}.pdf.enc"
    assert stored.exists()
    assert not stored.read_bytes().startswith(b"%PDF")
    entry = copy_entries(signed_consultation).get()
    assert entry.actor_id == demo["operator"].pk
    assert entry.after["personal_data"] == "full"


@pytest.mark.usefixtures("background_above_one_byte")
def test_failed_job_page_shows_error(login_as, signed_consultation, demo):
    client = login_as("operator")
    client.get(copy_url(signed_consultation, "?personal_data=full"))
    job = CopyJob.objects.get()
    # The operator leaves the department before the worker runs the job.
    demo["operator"].departments.clear()
    jobs.run_job(job.token)

    page = client.get(f"/copy-jobs/{job.token}/")
    download = client.get(f"/copy-jobs/{job.token}/file/")

    assert page.status_code == 200
    assert 'data-status="failed"' in page.content.decode()
    assert 'class="form-error"' in page.content.decode()
    assert download.status_code == 302


@pytest.mark.usefixtures("background_above_one_byte")
@pytest.mark.parametrize("suffix", ["", "file/"])
def test_job_page_hidden_from_others(login_as, signed_consultation, demo, suffix):
    login_as("citizen").get(copy_url(signed_consultation))
    job = CopyJob.objects.get()

    response = login_as("operator").get(f"/copy-jobs/{job.token}/{suffix}")

    assert response.status_code == 404
    denial = JournalEntry.objects.get(action=JournalAction.ACCESS_DENIED)
    assert denial.actor_id == demo["operator"].pk
    assert denial.object_type == "copy_job"


@pytest.mark.usefixtures("background_above_one_byte", "english_pages")
@pytest.mark.parametrize("suffix", ["", "file/"])
def test_expired_job_page_gone(login_as, signed_consultation, suffix):
    client = login_as("citizen")
    client.get(copy_url(signed_consultation))
    job = CopyJob.objects.get()
    jobs.run_job(job.token)
    CopyJob.objects.filter(pk=job.pk).update(status=CopyJobStatus.EXPIRED)

    response = client.get(f"/copy-jobs/{job.token}/{suffix}")

    assert response.status_code == 410
    assert "request a new copy of the protocol" in response.content.decode()


@pytest.mark.parametrize("token", ["a%00b", "%F0%9F%98%80", "x" * 200])
def test_malformed_job_token_not_found(login_as, demo, token):
    response = login_as("citizen").get(f"/copy-jobs/{token}/")

    assert response.status_code == 404
    denial = JournalEntry.objects.get(action=JournalAction.ACCESS_DENIED)
    assert denial.actor_id == demo["citizen"].pk
    assert "\x00" not in denial.object_id
