"""Forwards of imported appeals: their deadlines and the answer clock."""

import json
from datetime import date, datetime

import pytest

from protokol.consultations.models import Consultation
from protokol.imports.services import import_appeals
from protokol.workflow.deadlines import (
    CLOCKS,
    clock_changes,
    consultation_deadlines,
    deadline_rows,
)

pytestmark = pytest.mark.django_db

# Enough appeals to cover one forward and several forwards in a row.
SINGLE, MULTIPLE = 3, 3


def _forwards(record: dict) -> list[dict]:
    return [event for event in record["events"] if event["type"] == "forward"]


@pytest.fixture
def forwarded(tmp_path, sample_records):
    """Import a few sample appeals with forwards; return them by source id."""
    once = [r for r in sample_records if len(_forwards(r)) == 1][:SINGLE]
    again = [r for r in sample_records if len(_forwards(r)) > 1][:MULTIPLE]
    chosen = once + again
    path = tmp_path / "forwards.jsonl"
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in chosen),
        encoding="utf-8",
    )

    report = import_appeals(path)

    assert report.imported == len(chosen)
    return {record["source_id"]: record for record in chosen}


def _consultation(source_id: str) -> Consultation:
    return Consultation.objects.get(external_ref=source_id)


def test_forwards_keep_old_and_new_deadline(forwarded):
    for source_id, record in forwarded.items():
        steps = list(
            _consultation(source_id)
            .transitions.filter(action="forward")
            .order_by("created_at", "id")
        )
        events = _forwards(record)

        assert len(steps) == len(events), source_id
        for step, event in zip(steps, events, strict=True):
            assert step.created_at == datetime.fromisoformat(event["at"])
            assert step.details["old_deadline"] == event.get("old_deadline")
            assert step.details["new_deadline"] == event.get("new_deadline")
            for field in ("old_deadline", "new_deadline"):
                if step.details[field] is not None:
                    date.fromisoformat(step.details[field])


def test_answer_clock_restarts_at_each_forward(forwarded):
    for source_id in forwarded:
        consultation = _consultation(source_id)
        history = list(
            consultation.transitions.order_by("created_at", "id").values_list(
                "created_at", "action", "to_status"
            )
        )
        forward_times = [moment for moment, action, _ in history if action == "forward"]

        # Replayed up to just after each forward, the clock starts there.
        for forward_time in forward_times:
            upto = [step for step in history if step[0] <= forward_time]
            changes = clock_changes(
                CLOCKS["answer"],
                consultation.created_at,
                upto,
                restart_on_forward=True,
            )
            assert changes[0][0] == forward_time, source_id


def test_answer_deadline_starts_at_last_forward(forwarded):
    for source_id in forwarded:
        consultation = _consultation(source_id)
        last_forward = (
            consultation.transitions.filter(action="forward")
            .order_by("created_at", "id")
            .last()
        )
        answer = next(
            d for d in consultation_deadlines(consultation) if d.target.name == "answer"
        )
        row = next(r for r in deadline_rows(consultation) if r["target"] == "answer")
        registration = next(
            d
            for d in consultation_deadlines(consultation)
            if d.target.name == "registration"
        )

        assert answer.started_at == last_forward.created_at, source_id
        assert row["started_at"] == last_forward.created_at, source_id
        # Other clocks are not restarted by a forward.
        assert registration.started_at == consultation.created_at, source_id
