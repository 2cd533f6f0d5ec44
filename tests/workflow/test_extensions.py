"""Deadline extension: once, up to 30 days, by a supervisor, with a reason."""

from datetime import timedelta

import pytest

from api.client import login, write_counts
from consultations.factories import consultation_in
from protokol.consultations import services
from protokol.consultations.models import Status
from protokol.errors import Conflict, PermissionDenied, ValidationFailed
from protokol.journal.models import JournalEntry
from protokol.workflow.deadlines import deadline_rows
from protokol.workflow.extensions import extend_deadline


def _answer(consultation):
    return {row["target"]: row for row in deadline_rows(consultation)}["answer"]


def test_extension_moves_the_answer_deadline(demo):
    consultation = consultation_in(demo, Status.DRAFTING)
    due = _answer(consultation)["due_at"]

    extended = extend_deadline(
        demo["supervisor"], consultation.pk, days=30, reason="Нужен запрос в архив"
    )

    assert _answer(extended)["due_at"] == due + timedelta(days=30)
    assert extended.deadline == consultation.deadline + timedelta(days=30)
    assert JournalEntry.objects.filter(action="consultation:extend").count() == 1


def test_second_extension_is_refused(demo):
    consultation = consultation_in(demo, Status.DRAFTING)
    extend_deadline(demo["supervisor"], consultation.pk, days=10, reason="Запрос")

    with pytest.raises(Conflict) as raised:
        extend_deadline(demo["supervisor"], consultation.pk, days=5, reason="Ещё")

    assert raised.value.field == "days"


def test_forward_allows_a_new_extension(demo):
    consultation = consultation_in(demo, Status.DRAFTING)
    extend_deadline(demo["supervisor"], consultation.pk, days=10, reason="Запрос")
    services.forward(
        demo["supervisor"], consultation.pk, department_code="B", reason="Не наш"
    )

    extended = extend_deadline(
        demo["supervisor"], consultation.pk, days=5, reason="Запрос"
    )

    assert _answer(extended)["amount"] == 35


@pytest.mark.parametrize("days", [0, 31, -1, True, "10"])
def test_days_out_of_range_are_refused(demo, days):
    consultation = consultation_in(demo, Status.DRAFTING)

    with pytest.raises(ValidationFailed) as raised:
        extend_deadline(demo["supervisor"], consultation.pk, days=days, reason="x")

    assert raised.value.field == "days"


def test_operator_may_not_extend(demo):
    consultation = consultation_in(demo, Status.DRAFTING)

    with pytest.raises(PermissionDenied):
        extend_deadline(demo["operator"], consultation.pk, days=5, reason="x")


def test_signed_consultation_has_nothing_to_extend(demo):
    consultation = consultation_in(demo, Status.SIGNED)

    with pytest.raises(Conflict) as raised:
        extend_deadline(demo["supervisor"], consultation.pk, days=5, reason="x")

    assert raised.value.field == "status"


def test_api_extension_and_its_errors(demo):
    consultation = consultation_in(demo, Status.DRAFTING)
    supervisor = login("supervisor")
    counts = write_counts()

    missing_reason = supervisor.post(
        f"/consultations/{consultation.pk}/extend", {"days": 10, "reason": " "}
    )
    assert missing_reason.status_code == 422
    assert missing_reason.json()["field"] == "reason"
    assert write_counts() == counts

    response = supervisor.post(
        f"/consultations/{consultation.pk}/extend",
        {"days": 10, "reason": "Нужен запрос в архив"},
    )

    assert response.status_code == 200
    answer = {row["target"]: row for row in response.json()}["answer"]
    assert answer["amount"] == 40


def test_page_form_extends_for_supervisors(client, demo):
    consultation = consultation_in(demo, Status.DRAFTING)
    client.force_login(demo["supervisor"])
    page = client.get(f"/consultations/{consultation.pk}/").content.decode()
    assert 'id="extension-form"' in page

    response = client.post(
        f"/consultations/{consultation.pk}/extend/",
        {"days": "15", "reason": "Нужен запрос в архив"},
    )

    assert response.status_code == 302
    assert _answer(consultation)["amount"] == 45


def test_page_form_shows_the_refusal(client, demo):
    consultation = consultation_in(demo, Status.DRAFTING)
    client.force_login(demo["supervisor"])

    response = client.post(
        f"/consultations/{consultation.pk}/extend/", {"days": "45", "reason": "x"}
    )

    assert response.status_code == 422
    assert "30" in response.content.decode()


def test_operator_page_has_no_extension_form(client, demo):
    consultation = consultation_in(demo, Status.DRAFTING)
    client.force_login(demo["operator"])

    page = client.get(f"/consultations/{consultation.pk}/").content.decode()

    assert 'id="extension-form"' not in page


@pytest.mark.parametrize("days", ["15", "45"])
def test_operator_page_post_gets_no_form_banner(client, demo, days):
    from django.utils import translation
    from django.utils.translation import gettext

    consultation = consultation_in(demo, Status.DRAFTING)
    client.force_login(demo["operator"])
    before = write_counts()

    response = client.post(
        f"/consultations/{consultation.pk}/extend/",
        {"days": days, "reason": "Нужен запрос в архив"},
    )

    page = response.content.decode()
    with translation.override("ru"):
        message = gettext("Only supervisors extend deadlines.")
    assert response.status_code == 403
    assert message in page
    assert "error-summary" not in page
    assert "Нужен запрос в архив" not in page
    assert write_counts() == before
