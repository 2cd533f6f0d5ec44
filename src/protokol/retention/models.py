"""Retention policies, legal holds, disposals, archive grants and privacy requests."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from protokol.catalog.models import Service
from protokol.consultations.models import Consultation

# Years a closed consultation is kept at least. A service may keep its records
# longer, never shorter.
LEGAL_MINIMUM_YEARS = 5


class EndAction(models.TextChoices):
    DELETE = "delete", _("удаление")
    ARCHIVE = "archive", _("архив с ограниченным доступом")


class RetentionPolicy(models.Model):
    """How long a service's closed consultations are kept, and what happens then.

    A service without a row keeps them LEGAL_MINIMUM_YEARS years and then
    moves them to the restricted archive.
    """

    service = models.OneToOneField(
        Service, on_delete=models.CASCADE, related_name="retention_policy"
    )
    years = models.PositiveIntegerField(default=LEGAL_MINIMUM_YEARS)
    end_action = models.CharField(
        max_length=16, choices=EndAction.choices, default=EndAction.ARCHIVE
    )
    updated_at = models.DateTimeField()
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("политика хранения")


class LegalHold(models.Model):
    """A hold that stops the retention clock of one consultation until lifted."""

    consultation = models.ForeignKey(
        Consultation, on_delete=models.CASCADE, related_name="legal_holds"
    )
    reason = models.TextField()
    set_at = models.DateTimeField()
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    lift_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["set_at", "id"]
        verbose_name = _("судебный запрет на удаление")
        constraints = [
            models.UniqueConstraint(
                fields=["consultation"],
                condition=models.Q(lifted_at__isnull=True),
                name="retention_one_active_hold",
            )
        ]


class Disposal(models.Model):
    """What the retention policy did to one consultation at the end of its period.

    A deleted consultation's row is gone, so its id and number are kept here
    as plain values; an archived one stays and is hidden by `access.py`.
    """

    consultation_id = models.BigIntegerField(unique=True)
    number = models.CharField(max_length=32)
    citizen_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    service_code = models.CharField(max_length=64)
    end_action = models.CharField(max_length=16, choices=EndAction.choices)
    years = models.PositiveIntegerField()
    closed_at = models.DateTimeField()
    due_at = models.DateTimeField()
    disposed_at = models.DateTimeField()
    # Counts of the removed rows and bytes, as journaled.
    removed = models.JSONField(default=dict, blank=True)
    journal_index = models.BigIntegerField()

    class Meta:
        ordering = ["disposed_at", "id"]
        indexes = [models.Index(fields=["end_action", "consultation_id"])]


class ArchiveGrant(models.Model):
    """Access of one administrator or auditor to the restricted archive."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    reason = models.TextField()
    granted_at = models.DateTimeField()
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-granted_at", "id"]
        indexes = [models.Index(fields=["user", "expires_at"])]


class PurgePermit(models.Model):
    """A row that lets the delete trigger of signatures pass for one consultation.

    The retention service inserts it, deletes the signatures and removes it in
    one transaction, so no other connection ever sees it.
    """

    consultation_id = models.BigIntegerField(unique=True)


class ErasureRequest(models.Model):
    """A citizen's request to erase their personal data, and the answer given."""

    # Kept after the person is anonymised: the account stays, without a name.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    pseudonym = models.CharField(max_length=150)
    created_at = models.DateTimeField()
    # What was erased and what was kept, with reasons and dates (erasure.py).
    response = models.JSONField(default=dict)
    journal_index = models.BigIntegerField()

    class Meta:
        ordering = ["-created_at", "-id"]
