"""Round-robin assignment of consultations forwarded to another department."""

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
def operator_b2(demo):
    """A second operator of department B."""
    return create_user(
        "operator_b2",
        role="operator",
        password=None,
        first_name="Пётр",
        last_name="Зайцев",
        departments=[Department.objects.get(code="B")],
    )


def _forward(demo, consultation):
    return services.forward(
        demo["operator"], consultation.pk, department_code="B", reason="Паспортный"
    )


def test_forward_assigns_in_new_department(demo, operator_b2, round_robin):
    first = open_consultation(demo["citizen"], subject="Вопрос 1")
    second = open_consultation(demo["citizen"], subject="Вопрос 2")
    assert first.assignee == demo["operator"]

    first = _forward(demo, first)
    second = _forward(demo, second)

    # No operator of B had one: the lower id first, then the one with fewer.
    assert first.assignee == demo["operator2"]
    assert second.assignee == operator_b2
    assign = Transition.objects.filter(consultation=first, action="assign").last()
    assert assign.details["reason"] == "forward"
    assert assign.details["assignee_id"] == demo["operator2"].pk
    entry = JournalEntry.objects.filter(
        consultation_id=first.pk, after__action="assign"
    ).last()
    assert entry.after["reason"] == "forward"


def test_forward_in_queue_mode_leaves_unassigned(demo, operator_b2):
    consultation = open_consultation(demo["citizen"])
    services.transition(demo["operator"], consultation.pk, action="take")

    forwarded = _forward(demo, consultation)

    assert forwarded.assignee is None
    assert not Transition.objects.filter(action="assign").exists()


def test_forward_to_department_without_operators(demo, round_robin):
    Department.objects.create(code="C", name="Отдел без операторов")
    consultation = open_consultation(demo["citizen"])

    forwarded = services.forward(
        demo["operator"], consultation.pk, department_code="C", reason="Другой отдел"
    )

    assert forwarded.assignee is None
    assert forwarded.department.code == "C"
