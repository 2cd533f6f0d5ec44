"""Copies rendered in the background because their inputs are large."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from protokol.consultations.models import Consultation


class CopyJobStatus(models.TextChoices):
    QUEUED = "queued", _("в очереди")
    RUNNING = "running", _("готовится")
    DONE = "done", _("готова")
    FAILED = "failed", _("ошибка")
    EXPIRED = "expired", _("срок хранения истёк")


class CopyJob(models.Model):
    """A copy request that the task worker renders and signs.

    `token` is the random public name of the job in its URL; only the
    requester may read the job. `error` is the API error of a failed job.
    A finished job expires PROTOKOL_COPY_JOB_KEEP_SECONDS after
    `finished_at`, and the worker then deletes its file.
    """

    token = models.CharField(max_length=32, unique=True)
    consultation = models.ForeignKey(
        Consultation, on_delete=models.PROTECT, related_name="+"
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    language = models.CharField(max_length=2)
    personal_data = models.CharField(max_length=8)
    status = models.CharField(
        max_length=8, choices=CopyJobStatus.choices, default=CopyJobStatus.QUEUED
    )
    # Bytes of public messages and attachments that put the copy in the background.
    input_bytes = models.BigIntegerField()
    file_name = models.CharField(max_length=200, blank=True)
    error = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
