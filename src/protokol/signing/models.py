"""Stored signatures of protocol versions and certificate revocations; insert-only."""

from django.db import models

from protokol.consultations.models import Consultation


class SignatureKind(models.TextChoices):
    SIGNER = "signer", "signer"
    SEAL = "seal", "seal"
    # The citizen's acknowledgement: a record binding the signed hash to the
    # citizen's session, signed with the organisation seal (acknowledgement.py).
    ACKNOWLEDGEMENT = "acknowledgement", "acknowledgement"


class Signature(models.Model):
    """One detached CMS signature (CAdES) over a protocol version's document.

    `document` is the exact signed byte string (see document.py), so a
    signature still verifies after later rows of the consultation change.
    For an acknowledgement, `document` is the acknowledgement record, the
    seal signs it, and `signer_name` is the citizen's name.
    """

    consultation = models.ForeignKey(
        Consultation, on_delete=models.PROTECT, related_name="signatures"
    )
    protocol_version = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=SignatureKind.choices)
    signer_name = models.CharField(max_length=300)
    certificate_serial = models.CharField(max_length=64)
    certificate_subject = models.CharField(max_length=1000)
    # Hex SHA-256 of `document`.
    signed_data_sha256 = models.CharField(max_length=64)
    document = models.BinaryField()
    cms = models.BinaryField()
    # genTime of the RFC 3161 token in the signature, None without a token.
    timestamp_time = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "signing_signature"
        ordering = ["consultation", "protocol_version", "id"]
        indexes = [models.Index(fields=["consultation", "protocol_version"])]
        constraints = [
            models.UniqueConstraint(
                fields=["consultation", "protocol_version"],
                condition=models.Q(kind="acknowledgement"),
                name="signing_one_acknowledgement_per_version",
            )
        ]


class Revocation(models.Model):
    """A certificate of the installation's PKI that is no longer valid."""

    serial = models.CharField(max_length=64, unique=True)
    subject = models.CharField(max_length=1000)
    # RFC 5280 CRLReason name as in cryptography's x509.ReasonFlags.
    reason = models.CharField(max_length=32)
    revoked_at = models.DateTimeField()

    class Meta:
        db_table = "signing_revocation"
        ordering = ["revoked_at", "id"]
