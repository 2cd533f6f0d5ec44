"""Facts of each consultation that the statistics read, kept by the service layer."""

from django.db import models

from protokol.consultations.models import Consultation


class ConsultationFacts(models.Model):
    """Times and flags of one consultation, derived from its messages and
    transitions by protokol.analytics.facts.

    The grouping keys, the deadline and the status stay on the consultation,
    so a statistics query joins this row by primary key and filters, scopes
    and groups through the consultation as every list does. Only the
    creation time is copied, for the date range. No personal data
    is stored here.
    """

    consultation = models.OneToOneField(
        Consultation,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="facts",
    )
    # The consultation's creation time, copied so that a month of statistics
    # reads a range of this index and not the whole table.
    created_at = models.DateTimeField(db_index=True)
    # First public message by staff.
    first_reply_at = models.DateTimeField(null=True)
    # First signing, or the closing of a consultation archived without one.
    end_at = models.DateTimeField(null=True)
    # Number of returns from review.
    returns = models.PositiveIntegerField(default=0)
    disputed = models.BooleanField(default=False)
    dispute_concluded = models.BooleanField(default=False)
    dispute_reopened = models.BooleanField(default=False)
    # A transition recorded the portal status "user satisfied".
    satisfied = models.BooleanField(default=False)
    # Creation time of the latest earlier consultation of the same citizen
    # and service, so the repeat window stays a query parameter.
    previous_request_at = models.DateTimeField(null=True)

    class Meta:
        verbose_name_plural = "consultation facts"
