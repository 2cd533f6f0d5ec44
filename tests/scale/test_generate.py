"""The generator: counts, dates, journal, search and the command's errors."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from protokol.accounts.models import User
from protokol.consultations import services
from protokol.consultations.models import Consultation, Message, Transition
from protokol.imports.services import import_appeals
from protokol.journal import services as journal
from protokol.journal.models import JournalAction, JournalEntry
from protokol.scale.generate import generate
from protokol.scale.profile import learn_profile
from protokol.search.models import SearchDocument


@pytest.fixture
def generated(demo, small_source):
    report = generate(40, seed=7, batch_size=15, source=small_source)
    # The imported appeals carry their portal id; generated copies do not.
    rows = Consultation.objects.filter(external_ref__isnull=True, channel="portal")
    return report, rows


def test_generate_creates_rows_like_templates(generated, small_source):
    report, rows = generated
    templates = {t.subject for t in learn_profile(small_source).templates}

    assert rows.count() == 40
    assert report.consultations == 40
    assert report.citizens == 14
    assert {c.subject for c in rows} <= templates
    assert Message.objects.filter(consultation__in=rows).count() == report.messages
    assert (
        Transition.objects.filter(consultation__in=rows).count() == report.transitions
    )


def test_generate_keeps_one_batch_of_citizens(demo, small_source, monkeypatch):
    from protokol.scale import generate as module

    citizens_per_batch = []
    write_batch = module._write_batch

    def recording_write_batch(templates, picks, rng, citizens, *arguments):
        citizens_per_batch.append(len(citizens))
        return write_batch(templates, picks, rng, citizens, *arguments)

    monkeypatch.setattr(module, "_write_batch", recording_write_batch)

    report = generate(40, seed=7, batch_size=15, source=small_source)

    assert citizens_per_batch == [5, 5, 4]
    assert report.citizens == 14


@pytest.mark.parametrize("batch_size", [1, 2, 4])
def test_generate_citizens_of_small_batches(demo, small_source, batch_size):
    before = User.objects.filter(username__startswith="gen-").count()

    report = generate(7, seed=3, batch_size=batch_size, source=small_source)

    created = User.objects.filter(username__startswith="gen-").count() - before
    owners = Consultation.objects.filter(
        external_ref__isnull=True, channel="portal"
    ).values_list("citizen__username", flat=True)
    assert report.citizens == 3
    assert created == 3
    assert all(owner.startswith("gen-") for owner in owners)


def test_generate_numbers_are_unique_and_dated_in_span(generated):
    _, rows = generated
    now = timezone.now()

    assert len({c.number for c in rows}) == 40
    for consultation in rows:
        assert consultation.number.startswith(f"КП-{consultation.created_at.year}-")
        assert now - timedelta(days=737) <= consultation.created_at <= now
        assert consultation.updated_at <= now


def test_generate_journals_each_consultation(generated):
    _, rows = generated
    entries = JournalEntry.objects.filter(consultation_id__in=rows.values("pk"))

    assert entries.count() == 40
    assert set(entries.values_list("action", flat=True)) == {
        JournalAction.CONSULTATION_CREATE
    }
    assert journal.verify(journal.iter_entries()) is None


def test_generate_indexes_for_search(generated, demo):
    _, rows = generated
    sample = rows.first()
    word = sample.subject.split()[0]

    assert SearchDocument.objects.filter(consultation__in=rows).count() == 40
    found = services.list_consultations(demo["supervisor"], q=word)
    assert sample in found


def test_generate_shows_catalog_import_progress(demo, small_source, monkeypatch):
    from protokol.scale import generate as module

    calls = []

    def recording_import(path=None, **options):
        calls.append(options)
        return import_appeals(path, **options)

    monkeypatch.setattr(module, "import_appeals", recording_import)

    generate(3, seed=1, source=small_source, progress=True)

    assert calls == [{"progress": True}]


def test_generate_command_rejects_zero(db):
    with pytest.raises(CommandError, match="count"):
        call_command("generate", "0")


def test_generate_command_rejects_huge_span(db):
    with pytest.raises(CommandError, match="--span-days: 99999999 is too large"):
        call_command("generate", "1", "--span-days", "99999999")


def test_generate_command_rejects_missing_source(db, tmp_path):
    with pytest.raises(CommandError, match="--source: file not found"):
        call_command("generate", "5", "--source", str(tmp_path / "none.jsonl"))


def test_learn_profile_rejects_file_without_appeals(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("{}\n", encoding="utf-8")

    with pytest.raises(ValueError, match="no valid appeal"):
        learn_profile(empty)


def test_profile_summary_of_sample():
    summary = learn_profile().summary()

    assert summary["appeals"] == 2000
    assert summary["services"] == 15
    assert 1 <= summary["messages_median"] <= summary["messages_p90"]
    assert 0 < summary["forwarded_share"] < 1


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the vectors are PostgreSQL's tsvector"
)
def test_generated_vectors_equal_those_of_stored_texts(generated):
    # The generator joins each template's vector to its number's; the result
    # must be what the trigger computes from the stored texts.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM search_document WHERE public_vector IS DISTINCT "
            "FROM to_tsvector('russian', public_text) OR full_vector IS DISTINCT "
            "FROM to_tsvector('russian', public_text || ' ' || internal_text)"
        )
        assert cursor.fetchone()[0] == 0
    assert SearchDocument.objects.count() > 40


def test_created_index_declared_once(db):
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(
            cursor, Consultation._meta.db_table
        )
    by_time = [
        name
        for name, details in constraints.items()
        if details["index"] and details["columns"] == ["created_at", "id"]
    ]

    assert by_time == ["consultation_created_id_desc"]
