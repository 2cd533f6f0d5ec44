"""Protocol versions and the addenda written after signing."""

from django.conf import settings
from django.db import models

from protokol.consultations.models import Consultation


class ProtocolVersion(models.Model):
    """One saved draft of a consultation's protocol; versions are never overwritten."""

    consultation = models.ForeignKey(
        Consultation, on_delete=models.PROTECT, related_name="protocol_versions"
    )
    version = models.PositiveIntegerField()
    question = models.TextField()
    documents = models.TextField(blank=True)
    recommendations = models.TextField()
    decision = models.TextField()
    decision_reason = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    author_name = models.CharField(max_length=300)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["consultation", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["consultation", "version"], name="protocol_version_unique"
            )
        ]


class Addendum(models.Model):
    """A correction or a dispute conclusion added after the protocol was signed."""

    consultation = models.ForeignKey(
        Consultation, on_delete=models.PROTECT, related_name="addenda"
    )
    kind = models.CharField(max_length=32)
    text = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    author_name = models.CharField(max_length=300)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
