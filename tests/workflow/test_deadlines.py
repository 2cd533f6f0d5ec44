"""Deadlines of real consultations, replayed from their transitions."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from api.client import login
from consultations.factories import act, consultation_in, open_consultation
from protokol.consultations import services
from protokol.consultations.models import Consultation, Status
from protokol.workflow.deadlines import consultation_deadlines, deadline_rows


def _by_target(consultation, **kwargs):
    return {row["target"]: row for row in deadline_rows(consultation, **kwargs)}


def test_new_consultation_runs_three_clocks(demo):
    consultation = open_consultation(demo["citizen"])

    rows = _by_target(consultation)

    assert set(rows) == {"registration", "first_response", "answer"}
    assert {row["state"] for row in rows.values()} == {"running"}
    assert rows["registration"]["due_at"] == consultation.created_at + timedelta(days=3)
    assert rows["answer"]["due_at"] == consultation.created_at + timedelta(days=30)
    assert rows["answer"]["time_zone"] == "Europe/Moscow"


def test_taking_meets_registration_and_waiting_for_data_pauses(demo):
    consultation = consultation_in(demo, Status.DATA_REQUESTED)

    rows = _by_target(consultation)

    assert rows["registration"]["state"] == "met"
    assert rows["answer"]["state"] == "paused"
    assert rows["first_response"]["state"] == "paused"


def test_pause_moves_the_answer_deadline(demo):
    consultation = consultation_in(demo, Status.DATA_REQUESTED)
    paused_at = consultation.transitions.get(action="request_data").created_at
    two_days_later = paused_at + timedelta(days=2)

    paused = _by_target(consultation, now=two_days_later)["answer"]
    act(demo["citizen"], consultation, "provide_data")
    transition = consultation.transitions.get(action="provide_data")
    resumed_at = transition.created_at

    running = _by_target(consultation, now=resumed_at)["answer"]
    assert paused["due_at"] == consultation.created_at + timedelta(days=32)
    assert running["due_at"] == consultation.created_at + timedelta(days=30) + (
        resumed_at - paused_at
    )


def test_first_public_reply_stops_the_first_response_clock(demo):
    consultation = consultation_in(demo, Status.DRAFTING)
    services.add_message(
        demo["operator"], consultation.pk, text="Заметка", visibility="internal"
    )
    assert _by_target(consultation)["first_response"]["state"] == "running"

    services.add_message(
        demo["operator"], consultation.pk, text="Ответ", visibility="public"
    )

    assert _by_target(consultation)["first_response"]["state"] == "met"


def test_signing_meets_the_answer_target(demo):
    consultation = consultation_in(demo, Status.SIGNED)

    answer = _by_target(consultation)["answer"]

    assert answer["state"] == "met"
    assert answer["stopped_at"] is not None


def test_late_answer_is_missed_and_open_one_overdue(demo):
    consultation = consultation_in(demo, Status.DRAFTING)
    later = timezone.now() + timedelta(days=31)

    assert _by_target(consultation, now=later)["answer"]["state"] == "overdue"

    deadlines = consultation_deadlines(consultation, now=later)
    assert all(d.breached for d in deadlines if d.target.name == "answer")


def test_forward_restarts_the_answer_clock(demo):
    consultation = consultation_in(demo, Status.DRAFTING)
    services.forward(
        demo["supervisor"],
        consultation.pk,
        department_code="B",
        reason="Вопрос другого отдела",
    )
    forwarded_at = consultation.transitions.get(action="forward").created_at

    rows = _by_target(consultation)

    assert rows["answer"]["started_at"] == forwarded_at
    assert rows["answer"]["due_at"] == forwarded_at + timedelta(days=30)
    assert rows["registration"]["state"] == "met"


@pytest.fixture
def opened(demo):
    return open_consultation(demo["citizen"])


def test_api_lists_deadlines_for_the_citizen(opened):
    response = login("citizen").get(f"/consultations/{opened.pk}/deadlines")

    assert response.status_code == 200
    body = response.json()
    assert [row["target"] for row in body] == [
        "registration",
        "first_response",
        "answer",
    ]
    assert body[2]["unit"] == "calendar_days"
    assert body[2]["amount"] == 30


def test_api_hides_deadlines_of_someone_else(opened):
    response = login("citizen2").get(f"/consultations/{opened.pk}/deadlines")

    assert response.status_code == 404


def test_page_shows_deadline_bars(client, demo, opened):
    client.force_login(demo["citizen"])

    response = client.get(f"/consultations/{opened.pk}/")

    html = response.content.decode()
    assert 'id="deadlines"' in html
    assert html.count('class="deadline__bar"') == 3


def test_stored_calendar_and_target_apply(demo):
    from protokol.workflow.models import DepartmentCalendar, ServiceTarget

    consultation = open_consultation(demo["citizen"])
    DepartmentCalendar.objects.create(
        department=consultation.department,
        time_zone="Asia/Yekaterinburg",
        week=[["08:00", "17:00"]] * 5 + [None, None],
        extra_days_off=["2026-12-07"],
    )
    ServiceTarget.objects.create(
        service=consultation.service, name="answer", amount=10, unit="working_days"
    )

    # Friday 15:00 in Yekaterinburg: 2 of 9 hours that Friday, Monday 7
    # December closed, 9 working days to Friday 18 December, 7 hours more.
    friday = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    Consultation.objects.filter(pk=consultation.pk).update(created_at=friday)
    consultation.refresh_from_db()

    answer = _by_target(consultation, now=friday)["answer"]

    assert answer["time_zone"] == "Asia/Yekaterinburg"
    assert answer["unit"] == "working_days"
    assert answer["due_at"] == datetime(
        2026, 12, 21, 15, 0, tzinfo=ZoneInfo("Asia/Yekaterinburg")
    )


def test_check_command_shows_progress(demo, capsys):
    open_consultation(demo["citizen"])
    open_consultation(demo["citizen"])

    call_command("deadlines", "check")

    captured = capsys.readouterr()
    assert "0 new deadline events" in captured.out
    assert "Checking deadlines: 100%" in captured.err
    assert "2/2" in captured.err


def test_check_command_quiet_without_progress(demo, capsys):
    open_consultation(demo["citizen"])

    call_command("deadlines", "check", "-v", "0")

    assert "Checking deadlines" not in capsys.readouterr().err
