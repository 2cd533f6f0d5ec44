"""Assignment of new consultations: the queue, or round robin in the department."""

import pytest

from consultations.factories import open_consultation
from protokol.accounts.models import Department
from protokol.accounts.services import create_user
from protokol.consultations import services
from protokol.consultations.models import Transition
from protokol.journal.models import JournalEntry


@pytest.fixture
def round_robin(settings):
    settings.CONFIG = settings.CONFIG.model_copy(update={"assignment": "round_robin"})


@pytest.fixture
def second_operator(demo):
    """A second operator of department A, created after the demo's operator."""
    return create_user(
        "operator3",
        role="operator",
        password=None,
        first_name="Инна",
        last_name="Орлова",
        departments=[Department.objects.get(code="A")],
    )


def _open(demo, subject="Пособие на ребёнка"):
    return open_consultation(demo["citizen"], service_code="GEN", subject=subject)


def test_queue_leaves_new_consultation_unassigned(demo, second_operator):
    consultation = _open(demo)

    assert consultation.assignee is None
    assert not Transition.objects.filter(action="assign").exists()


def test_round_robin_alternates_between_operators(demo, second_operator, round_robin):
    first, second, third = (_open(demo, f"Вопрос {n}") for n in range(3))

    # Nobody had one: the operator never assigned, then the lower id, goes first.
    assert first.assignee == demo["operator"]
    # Fewest open consultations.
    assert second.assignee == second_operator
    # One each: the longest since the last assignment.
    assert third.assignee == demo["operator"]


def test_round_robin_prefers_fewest_open(demo, second_operator, round_robin):
    first, _, third = (_open(demo, f"Вопрос {n}") for n in range(3))
    for withdrawn in (first, third):
        services.transition(demo["citizen"], withdrawn.pk, action="withdraw")

    latest = _open(demo, "Новый вопрос")

    # operator has no open consultation left, though its last assignment
    # (the third) is newer than operator3's (the second).
    assert third.assignee == demo["operator"]
    assert latest.assignee == demo["operator"]


def test_round_robin_is_journaled(demo, round_robin):
    consultation = _open(demo)

    step = Transition.objects.get(consultation=consultation, action="assign")
    entry = JournalEntry.objects.get(
        consultation_id=consultation.pk, action="consultation:transition"
    )
    assert step.details["assignee_id"] == demo["operator"].pk
    assert step.details["mode"] == "round_robin"
    assert step.details["open_consultations"] == 0
    assert step.from_status == step.to_status == "initiated"
    assert entry.after["action"] == "assign"
    assert entry.after["assignee_id"] == demo["operator"].pk


def test_round_robin_without_operators_stays_in_queue(demo, round_robin):
    demo["operator"].is_active = False
    demo["operator"].save(update_fields=["is_active"])

    consultation = _open(demo)

    assert consultation.assignee is None
    assert not Transition.objects.filter(action="assign").exists()


def test_assigned_operator_takes_it(demo, round_robin):
    consultation = _open(demo)

    taken = services.transition(demo["operator"], consultation.pk, action="take")

    assert taken.status == "drafting"
    assert taken.assignee == demo["operator"]


def test_assignment_shows_in_timeline(client, demo, round_robin):
    consultation = _open(demo)
    client.force_login(demo["operator"])

    page = client.get(f"/consultations/{consultation.pk}/").content.decode()

    assert "Назначена исполнителю" in page
