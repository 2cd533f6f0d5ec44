"""Stored consultation facts: kept current by each write, rebuilt by the
migration and `protokol analytics-refresh`, equal to a direct computation."""

from datetime import timedelta
from importlib import import_module
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.test.utils import CaptureQueriesContext

from consultations.factories import act, consultation_in, open_consultation
from protokol.analytics.aggregates import local_day
from protokol.analytics.facts import fact_expressions, refresh_facts, refresh_range
from protokol.analytics.filters import Filters
from protokol.analytics.measures import statistics_rows
from protokol.analytics.models import ConsultationFacts, StaleDay
from protokol.consultations import services
from protokol.consultations.models import Consultation, Status, Transition, Visibility
from protokol.retention.disposal import purge

pytestmark = pytest.mark.django_db

COLUMNS = tuple(fact_expressions())


def _facts(consultation) -> ConsultationFacts:
    return ConsultationFacts.objects.get(pk=consultation.pk)


def _direct() -> dict:
    """Compute every consultation's facts from its rows, without the table."""
    aliases = {f"direct_{name}": value for name, value in fact_expressions().items()}
    rows = Consultation.objects.annotate(**aliases).values_list("pk", *aliases)
    return {row[0]: dict(zip(COLUMNS, row[1:], strict=True)) for row in rows}


def _stored() -> dict:
    rows = ConsultationFacts.objects.values("consultation_id", *COLUMNS)
    return {row.pop("consultation_id"): row for row in rows}


def test_new_consultation_has_facts(demo):
    consultation = open_consultation(demo["citizen"])

    facts = _facts(consultation)
    assert facts.first_reply_at is None
    assert facts.end_at is None
    assert facts.returns == 0
    assert facts.previous_request_at is None


def test_staff_reply_sets_first_reply(demo):
    consultation = consultation_in(demo, Status.DRAFTING)
    services.add_message(
        demo["citizen"], consultation.pk, text="Жду ответа", visibility="public"
    )
    assert _facts(consultation).first_reply_at is None

    reply = services.add_message(
        demo["operator"], consultation.pk, text="Ответ", visibility=Visibility.PUBLIC
    )

    assert _facts(consultation).first_reply_at == reply.created_at


def test_later_replies_keep_first_reply(demo):
    consultation = consultation_in(demo, Status.DRAFTING)
    services.add_message(
        demo["operator"], consultation.pk, text="Заметка", visibility="internal"
    )
    assert _facts(consultation).first_reply_at is None

    first = services.add_message(
        demo["operator"], consultation.pk, text="Ответ", visibility=Visibility.PUBLIC
    )
    services.add_message(
        demo["operator"], consultation.pk, text="Ещё", visibility=Visibility.PUBLIC
    )

    assert _facts(consultation).first_reply_at == first.created_at
    assert _stored()[consultation.pk] == _direct()[consultation.pk]


def test_return_counts_in_facts(demo):
    consultation = consultation_in(demo, Status.IN_REVIEW)

    act(demo["reviewer"], consultation, "return")

    assert _facts(consultation).returns == 1


def test_sign_sets_end(demo):
    consultation = consultation_in(demo, Status.SIGNED)

    signed_at = Transition.objects.get(
        consultation=consultation, action="sign"
    ).created_at
    assert _facts(consultation).end_at == signed_at


def test_dispute_sets_flag(demo):
    consultation = consultation_in(demo, Status.SIGNED)
    assert _facts(consultation).disputed is False

    act(demo["citizen"], consultation, "dispute")

    assert _facts(consultation).disputed is True


def test_repeat_request_stores_previous(demo):
    first = open_consultation(demo["citizen"])
    second = open_consultation(demo["citizen"])

    assert _facts(first).previous_request_at is None
    assert _facts(second).previous_request_at == first.created_at


def test_created_facts_equal_direct(demo):
    first = open_consultation(demo["citizen"])
    with CaptureQueriesContext(connection) as queries:
        second = open_consultation(demo["citizen"])

    direct = _direct()
    assert _stored()[first.pk] == direct[first.pk]
    assert _stored()[second.pk] == direct[second.pk]
    facts_writes = [
        query["sql"]
        for query in queries.captured_queries
        if ConsultationFacts._meta.db_table in query["sql"]
    ]
    assert len(facts_writes) == 1
    assert StaleDay.objects.filter(day=local_day(second.created_at)).exists()


def test_earlier_insert_updates_later_request(demo):
    later = open_consultation(demo["citizen"])
    earlier = open_consultation(demo["citizen"])
    moved = later.created_at.replace(year=later.created_at.year - 1)
    Consultation.objects.filter(pk=earlier.pk).update(created_at=moved)

    refresh_facts([earlier.pk])

    assert _facts(later).previous_request_at == moved
    assert _facts(earlier).previous_request_at is None


def test_purge_updates_later_request(demo):
    first = open_consultation(demo["citizen"])
    second = open_consultation(demo["citizen"])

    with transaction.atomic():
        purge(first)

    assert not ConsultationFacts.objects.filter(pk=first.pk).exists()
    assert _facts(second).previous_request_at is None


def test_stored_facts_equal_direct(imported):
    stored = _stored()
    direct = _direct()

    assert len(stored) == imported.imported
    assert stored == direct


def test_repeats_equal_direct_count(imported, demo):
    for days in (1, 30, 365):
        earlier = Consultation.objects.filter(
            citizen_id=OuterRef("citizen_id"),
            service_id=OuterRef("service_id"),
            created_at__lt=OuterRef("created_at"),
            created_at__gte=OuterRef("created_at") - timedelta(days=days),
        )
        expected = Consultation.objects.filter(Exists(earlier)).count()

        (row,) = statistics_rows(demo["supervisor"], Filters(repeat_days=days), None)

        assert row["repeats"] == expected, days


def test_refresh_backfills_missing_rows(imported):
    before = _stored()
    ConsultationFacts.objects.all().delete()

    count = refresh_range()

    assert count == imported.imported
    assert _stored() == before


def test_command_rebuilds_date_range(imported):
    first = Consultation.objects.order_by("created_at").first()
    day = first.created_at.date().isoformat()
    ConsultationFacts.objects.all().delete()

    call_command("analytics_refresh", date_from=day, date_to=day, verbosity=0)

    rebuilt = set(ConsultationFacts.objects.values_list("pk", flat=True))
    assert first.pk in rebuilt
    assert len(rebuilt) < imported.imported


def test_command_rebuilds_all(imported):
    ConsultationFacts.objects.all().delete()

    call_command("analytics_refresh", verbosity=0)

    assert ConsultationFacts.objects.count() == imported.imported


def test_full_refresh_analyzes_tables(imported):
    table = ConsultationFacts._meta.db_table

    call_command("analytics_refresh", verbosity=0)

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [table])
            assert cursor.fetchone()[0] == imported.imported
        else:
            # One row per index, and the first number of its stat is the
            # number of rows the index covers, so the largest is the table's.
            cursor.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = %s", [table])
            counts = [int(stat.split()[0]) for (stat,) in cursor.fetchall()]
            assert max(counts) == imported.imported


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"date_from": "2021-13-01"}, "--date-from: invalid date '2021-13-01'"),
        ({"date_to": "yesterday"}, "--date-to: invalid date 'yesterday'"),
        (
            {"date_from": "2021-02-01", "date_to": "2021-01-01"},
            "--date-to 2021-01-01 is earlier than --date-from 2021-02-01",
        ),
    ],
)
def test_command_rejects_bad_dates(options, message):
    with pytest.raises(CommandError) as error:
        call_command("analytics_refresh", verbosity=0, **options)

    assert message in str(error.value)


def test_migration_backfills_rows(imported):
    migration = import_module("protokol.analytics.migrations.0001_consultation_facts")
    ConsultationFacts.objects.all().delete()

    migration.backfill(apps=None, schema_editor=SimpleNamespace(connection=connection))

    assert ConsultationFacts.objects.count() == imported.imported
