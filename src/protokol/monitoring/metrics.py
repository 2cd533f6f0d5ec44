"""Protokol's own gauges, read from the database on every scrape."""

import structlog
from django.db import DatabaseError
from django.db.models import Max
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

log = structlog.get_logger(__name__)


class ProtokolCollector:
    """A prometheus_client collector of queue depth, deadlines and the journal.

    Each scrape runs four indexed queries. A database error leaves the gauges
    out of that scrape and is logged, so /metrics still serves the process
    metrics while the database is down.
    """

    def describe(self):
        # Describing without collecting keeps registration free of queries.
        return []

    def collect(self):
        try:
            values = _read_values()
        except DatabaseError as error:
            log.warning("metrics_database_failed", error=type(error).__name__)
            return

        yield _gauge(
            "protokol_task_queue_depth",
            "Background tasks waiting to run (django-tasks database backend).",
            values["queued"],
        )
        yield _gauge(
            "protokol_deadline_breaches",
            "Consultations in an open status whose stored deadline has passed.",
            values["breaches"],
        )
        yield _gauge(
            "protokol_journal_entries",
            "Entries in the operations journal.",
            values["journal_entries"],
        )
        if values["checkpoint_age"] is not None:
            yield _gauge(
                "protokol_journal_checkpoint_age_seconds",
                "Seconds since the latest signed journal checkpoint was issued.",
                values["checkpoint_age"],
            )
        yield _gauge(
            "protokol_journal_entries_after_checkpoint",
            "Journal entries that no signed checkpoint covers yet.",
            values["journal_entries"] - values["checkpoint_size"],
        )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _read_values() -> dict:
    from django_tasks.base import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    from protokol.consultations.models import Consultation
    from protokol.journal.models import Checkpoint, JournalEntry
    from protokol.notifications.deadlines import OPEN_STATUSES

    now = timezone.now()
    last_index = JournalEntry.objects.aggregate(last=Max("index"))["last"]
    checkpoint = Checkpoint.objects.order_by("-size").first()
    return {
        "queued": DBTaskResult.objects.filter(status=TaskResultStatus.READY).count(),
        "breaches": Consultation.objects.filter(
            status__in=OPEN_STATUSES, deadline__lt=now
        ).count(),
        "journal_entries": 0 if last_index is None else last_index + 1,
        "checkpoint_size": checkpoint.size if checkpoint else 0,
        "checkpoint_age": (now - checkpoint.created_at).total_seconds()
        if checkpoint
        else None,
    }
