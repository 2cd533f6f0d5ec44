"""Disputes of signed protocols, their experts and the experts' signed conclusions."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from protokol.consultations.models import Consultation
from protokol.protocols.models import Addendum


class DisputeStatus(models.TextChoices):
    OPEN = "open", _("ожидает назначения эксперта")
    ASSIGNED = "assigned", _("у эксперта")
    CONCLUDED = "concluded", _("заключение подписано")
    CLOSED = "closed", _("рассмотрение завершено")


class Dispute(models.Model):
    """A citizen's dispute of a signed protocol: the claims and how it was handled.

    One consultation has at most one dispute that is not closed; a reopened
    consultation that is signed again may be disputed again.
    """

    consultation = models.ForeignKey(
        Consultation, on_delete=models.PROTECT, related_name="disputes"
    )
    citizen = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    claims = models.TextField()
    # The protocol version that was signed when the dispute was opened.
    protocol_version = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=DisputeStatus.choices, default=DisputeStatus.OPEN
    )
    opened_at = models.DateTimeField()
    expert = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    expert_name = models.CharField(max_length=300, blank=True)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    # "conclude" or "reopen": the lifecycle action that closed the dispute.
    outcome = models.CharField(max_length=16, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["consultation"],
                condition=~models.Q(status="closed"),
                name="disputes_one_unclosed_per_consultation",
            )
        ]
        indexes = [models.Index(fields=["expert", "status"])]


class Conclusion(models.Model):
    """The expert's conclusion on a dispute, signed and kept as a protocol addendum.

    `document` is the exact signed byte string (disputes/document.py); the
    addendum repeats the text so the protocol's pages and copies show it.
    Database triggers reject UPDATE and DELETE, except a DELETE by
    retention's purge (migration 0002).
    """

    dispute = models.OneToOneField(
        Dispute, on_delete=models.PROTECT, related_name="conclusion"
    )
    addendum = models.OneToOneField(
        Addendum, on_delete=models.PROTECT, related_name="+"
    )
    text = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    author_name = models.CharField(max_length=300)
    document = models.BinaryField()
    # Hex SHA-256 of `document`.
    document_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField()


class ConclusionSignature(models.Model):
    """One detached CAdES-T signature over a conclusion's document.

    The services only insert these rows. Database triggers reject UPDATE
    and DELETE, except a DELETE by retention's purge (migration 0002).
    """

    conclusion = models.ForeignKey(
        Conclusion, on_delete=models.PROTECT, related_name="signatures"
    )
    # signing.models.SignatureKind: "signer" (the expert) or "seal".
    kind = models.CharField(max_length=16)
    signer_name = models.CharField(max_length=300)
    certificate_serial = models.CharField(max_length=64)
    certificate_subject = models.CharField(max_length=1000)
    signed_data_sha256 = models.CharField(max_length=64)
    cms = models.BinaryField()
    timestamp_time = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["conclusion", "id"]
