"""Background tasks of the documents app, run by `protokol db_worker`."""

from django_tasks import task


@task()
def render_copy_job(token: str) -> str:
    """Render, sign and store the copy of job `token`; return its final status."""
    from protokol.documents import jobs

    return jobs.run_job(token)
