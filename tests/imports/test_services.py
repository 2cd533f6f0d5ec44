"""Imports of small files cut from the sample: bad lines, gzip, rollback."""

import gzip
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction
from django.db.models import Q

from protokol.accounts.models import User
from protokol.accounts.services import create_user
from protokol.consultations.models import Consultation, Message, Transition
from protokol.imports import services
from protokol.imports.services import belongs_to_demo_citizen, import_appeals
from protokol.journal.models import JournalEntry
from protokol.journal.services import iter_entries, verify

pytestmark = pytest.mark.django_db


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _dump(record):
    return json.dumps(record, ensure_ascii=False)


@pytest.fixture
def five(sample_records):
    """The first five records of the sample, as dicts."""
    return [dict(r) for r in sample_records[:5]]


def _written_for(source_id):
    journal = JournalEntry.objects.filter(
        Q(payload__body__object_label=source_id) | Q(after__source_id=source_id)
    )
    return {
        "consultations": Consultation.objects.filter(external_ref=source_id).count(),
        "users": User.objects.filter(username=source_id).count(),
        "journal": journal.count(),
    }


@pytest.mark.parametrize(
    "bad_line, reason",
    [
        ('{"source_id": "spb-000000000001", "district": ', "Invalid JSON"),
        ("missing_events", "events: Field required"),
        ("round_as_text", "Input should be a valid integer"),
    ],
)
def test_invalid_line_skipped_others_imported(tmp_path, five, bad_line, reason):
    broken = dict(five[2])
    if bad_line == "missing_events":
        del broken["events"]
        bad_line = _dump(broken)
    elif bad_line == "round_as_text":
        broken["events"] = [dict(e) for e in broken["events"]]
        broken["events"][0]["round"] = "1"
        bad_line = _dump(broken)
    lines = [_dump(five[0]), _dump(five[1]), bad_line, _dump(five[3]), _dump(five[4])]

    report = import_appeals(_write(tmp_path / "appeals.jsonl", lines))

    assert report.read == 5
    assert report.imported == 4
    assert report.skipped == 1
    assert report.problems[0].line == 3
    assert reason in report.problems[0].reason
    assert Consultation.objects.count() == 4
    assert _written_for(broken["source_id"]) == {
        "consultations": 0,
        "users": 0,
        "journal": 0,
    }
    assert verify(iter_entries()) is None


def test_invalid_line_number_counts_blank_lines(tmp_path, five):
    lines = [_dump(five[0]), "", "[1, 2]", _dump(five[1])]

    report = import_appeals(_write(tmp_path / "appeals.jsonl", lines))

    assert report.read == 3
    assert report.imported == 2
    assert [p.line for p in report.problems] == [3]


def test_failure_inside_appeal_rolls_back(tmp_path, five, monkeypatch):
    target = five[1]["source_id"]
    record_many = services.journal.record_many

    def failing_record_many(entries):
        written = record_many(entries)
        for entry in written:
            if (
                entry.action == "consultation:transition"
                and Consultation.objects.get(pk=entry.consultation_id).external_ref
                == target
            ):
                raise IntegrityError("simulated failure")
        return written

    monkeypatch.setattr(services.journal, "record_many", failing_record_many)
    path = _write(tmp_path / "appeals.jsonl", [_dump(r) for r in five[:3]])

    report = import_appeals(path)

    assert report.imported == 2
    assert [p.line for p in report.problems] == [2]
    assert _written_for(target) == {"consultations": 0, "users": 0, "journal": 0}
    assert _written_for(five[0]["source_id"])["consultations"] == 1
    assert _written_for(five[0]["source_id"])["journal"] == 2
    assert Message.objects.count() == sum(
        1
        for r in (five[0], five[2])
        for e in r["events"]
        if e["type"] in {"petition", "answer", "interim_answer"}
    )
    assert not Transition.objects.filter(consultation__external_ref=target).exists()
    assert verify(iter_entries()) is None


def test_gzip_and_plain_give_same_result(tmp_path, five):
    text = "".join(_dump(r) + "\n" for r in five)
    (tmp_path / "appeals.jsonl.gz").write_bytes(gzip.compress(text.encode()))

    first = import_appeals(tmp_path / "appeals.jsonl.gz")
    second = import_appeals(_write(tmp_path / "appeals.jsonl", text.splitlines()))

    assert first.imported == 5
    assert second.imported == 0
    assert second.already_present == 5


def test_no_demo_citizen_all_placeholders(tmp_path, sample_records):
    chosen = [r for r in sample_records if belongs_to_demo_citizen(r["source_id"])]
    path = _write(tmp_path / "appeals.jsonl", [_dump(r) for r in chosen[:3]])

    report = import_appeals(path)

    assert report.imported == 3
    assert report.users_created == 3
    assert not Consultation.objects.filter(citizen__is_placeholder=False).exists()


def test_demo_citizen_receives_selected(tmp_path, demo, sample_records):
    chosen = [r for r in sample_records if belongs_to_demo_citizen(r["source_id"])]
    other = next(r for r in sample_records if r not in chosen)
    lines = [_dump(chosen[0]), _dump(other)]

    report = import_appeals(_write(tmp_path / "appeals.jsonl", lines))

    owner = Consultation.objects.get(external_ref=chosen[0]["source_id"]).citizen
    assert report.users_created == 1
    assert owner == demo["citizen"]
    assert Message.objects.filter(author=demo["citizen"]).exists()


def test_username_taken_by_real_account(tmp_path, five):
    with transaction.atomic():
        create_user(five[0]["source_id"], role="citizen", password=None)

    report = import_appeals(_write(tmp_path / "appeals.jsonl", [_dump(five[0])]))

    assert report.imported == 0
    assert "not an import placeholder" in report.problems[0].reason
    assert not Consultation.objects.exists()


def test_command_prints_counts(tmp_path, five, capsys):
    path = _write(tmp_path / "appeals.jsonl", [_dump(five[0]), "{"])

    call_command("import_appeals", str(path), verbosity=0)

    output = capsys.readouterr()
    assert "Imported: 1" in output.out
    assert "Skipped: 1" in output.out
    assert "Line 2 skipped: Invalid JSON" in output.err


def test_command_missing_file(tmp_path):
    with pytest.raises(CommandError, match="File not found"):
        call_command("import_appeals", str(tmp_path / "absent.jsonl"))
