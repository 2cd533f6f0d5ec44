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
        # Few consultations are returned or disputed, so a drill-down into
        # them reads these small partial indexes, not every consultation.
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=models.Q(returns__gt=0),
                name="facts_returned_idx",
            ),
            models.Index(
                fields=["created_at"],
                condition=models.Q(disputed=True),
                name="facts_disputed_idx",
            ),
            models.Index(
                fields=["created_at"],
                condition=models.Q(dispute_concluded=True),
                name="facts_concluded_idx",
            ),
            models.Index(
                fields=["created_at"],
                condition=models.Q(dispute_reopened=True),
                name="facts_reopened_idx",
            ),
        ]


class StaleDay(models.Model):
    """A creation day whose aggregates no longer match the facts.

    Every write that changes a consultation's statistics inserts its creation
    day here in the write's transaction (protokol.analytics.aggregates
    .mark_stale). The insert ignores a day already present, so concurrent
    writes do not wait on each other, only on a refresh that is deleting
    the same mark. Statistics read a stale day from the
    facts until `protokol analytics-refresh --stale` recomputes it.
    """

    day = models.DateField(primary_key=True)


class StatsColumns(models.Model):
    """Additive statistics of the consultations with one combination of the
    keys that statistics group, filter and scope by.

    Counts mirror measures._counts and `repeats` uses the default repeat
    window. `open_due` counts the open consultations with a deadline, and
    FutureDeadline keeps those whose deadline was still ahead, so a query
    counts the overdue ones at its own time.
    """

    service = models.ForeignKey(
        "catalog.Service",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    department = models.ForeignKey(
        "accounts.Department",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    district = models.CharField(max_length=100)
    channel = models.CharField(max_length=16)
    assignee = models.ForeignKey(
        "accounts.User",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="+",
    )
    # The consultation was archived by a retention policy, which hides it
    # from users without an archive grant.
    archived = models.BooleanField()

    total = models.IntegerField()
    closed = models.IntegerField()
    # Answered consultations with a stored deadline, plus those without one
    # judged by their workflow answer target at refresh time.
    deadline_known = models.IntegerField()
    deadline_met = models.IntegerField()
    open_due = models.IntegerField()
    returns = models.IntegerField()
    returned = models.IntegerField()
    disputed = models.IntegerField()
    dispute_concluded = models.IntegerField()
    dispute_reopened = models.IntegerField()
    dispute_open = models.IntegerField()
    repeats = models.IntegerField()
    closed_first = models.IntegerField()
    satisfied = models.IntegerField()
    processing_n = models.IntegerField()
    first_response_n = models.IntegerField()

    class Meta:
        abstract = True


class DailyStats(StatsColumns):
    """StatsColumns of the consultations created on one day."""

    day = models.DateField(db_index=True)

    class Meta:
        verbose_name_plural = "daily stats"


class MonthStats(StatsColumns):
    """DailyStats of a rolled-up month summed per key combination, rebuilt
    with its histogram month rows."""

    month = models.DateField(db_index=True)

    class Meta:
        verbose_name_plural = "month stats"


class HistogramColumns(models.Model):
    """Count of the durations of one kind that fall in one bucket, for the
    consultations of one span with one combination of keys. See
    aggregates.BOUNDS for the buckets."""

    PROCESSING = 0
    FIRST_RESPONSE = 1

    service = models.ForeignKey(
        "catalog.Service",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    department = models.ForeignKey(
        "accounts.Department",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    district = models.CharField(max_length=100)
    channel = models.CharField(max_length=16)
    assignee = models.ForeignKey(
        "accounts.User",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="+",
    )
    archived = models.BooleanField()
    kind = models.SmallIntegerField()
    bucket = models.SmallIntegerField()
    n = models.IntegerField()

    class Meta:
        abstract = True


class DurationHistogram(HistogramColumns):
    """HistogramColumns of the consultations created on one day or, once
    rolled up, in one month."""

    # The first day of the span; a month's rows start on its first day.
    start = models.DateField()
    # True for a row that covers the whole month of `start`.
    month = models.BooleanField()

    class Meta:
        indexes = [models.Index(fields=["month", "start"])]


class WeekHistogram(HistogramColumns):
    """HistogramColumns of the consultations created in one ISO week whose
    days all lie in ended months, written by the roll-up of those months.

    Weekly statistics read these rows for the whole weeks of their range, as
    monthly ones read the month rows of DurationHistogram.
    """

    # The Monday of the week, in the server's zone.
    week = models.DateField(db_index=True)


class RolledMonth(models.Model):
    """A month whose duration histograms are stored as month rows."""

    month = models.DateField(primary_key=True)


class MonthSlice(models.Model):
    """Month histogram rows summed over every key but one, for the common
    statistics without filters of users who see every department.

    `dimension` names the kept key ("all" keeps none) and `key` stores its
    value as the statistics group it: a service or department code, a
    district, a channel or an assignee id. Rebuilt with the month rows of
    DurationHistogram.
    """

    month = models.DateField()
    dimension = models.CharField(max_length=16)
    key = models.CharField(max_length=100, null=True)
    archived = models.BooleanField()
    kind = models.SmallIntegerField()
    bucket = models.SmallIntegerField()
    n = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["dimension", "month"])]


class FutureDeadline(models.Model):
    """An open consultation whose deadline had not passed when its creation
    day was refreshed, with the keys of DailyStats.

    Statistics count the overdue open consultations of a clean day as its
    DailyStats.open_due minus the rows here whose deadline is still ahead.
    A deadline only passes as time goes on, so the rows of a clean day
    include every open consultation whose deadline is still ahead.
    """

    day = models.DateField()
    service = models.ForeignKey(
        "catalog.Service",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    department = models.ForeignKey(
        "accounts.Department",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    district = models.CharField(max_length=100)
    channel = models.CharField(max_length=16)
    assignee = models.ForeignKey(
        "accounts.User",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="+",
    )
    archived = models.BooleanField()
    deadline = models.DateTimeField(db_index=True)
