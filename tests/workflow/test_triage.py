"""Triage: consultations that no routing rule matched go to one department."""

import pytest

from consultations.factories import open_consultation
from protokol.accounts.models import Department
from protokol.consultations import services
from protokol.consultations.models import Transition
from protokol.errors import NotFound
from protokol.workflow.models import RoutingRule


def _triage(settings, code: str) -> None:
    settings.CONFIG = settings.CONFIG.model_copy(update={"triage_department": code})


def _open(demo, subject="Пособие на ребёнка"):
    return open_consultation(demo["citizen"], service_code="GEN", subject=subject)


def test_unmatched_goes_to_triage(demo, settings):
    _triage(settings, "B")

    consultation = _open(demo)

    assert consultation.department.code == "B"


def test_matched_rule_bypasses_triage(demo, settings):
    _triage(settings, "B")
    RoutingRule.objects.create(
        priority=1, keywords="пособие", department=Department.objects.get(code="A")
    )

    matched = _open(demo, "Пособие на ребёнка")
    unmatched = _open(demo, "Справка о составе семьи")

    assert matched.department.code == "A"
    assert unmatched.department.code == "B"


def test_empty_setting_keeps_service_department(demo, settings):
    _triage(settings, "")

    assert _open(demo).department.code == "A"


def test_unknown_triage_code_keeps_service_department(demo, settings):
    _triage(settings, "NOPE")

    assert _open(demo).department.code == "A"


def test_triage_staff_forward_it(demo, settings):
    _triage(settings, "B")
    consultation = _open(demo)

    with pytest.raises(NotFound) as hidden:
        services.get_visible(demo["operator"], consultation.pk)
    moved = services.forward(
        demo["operator2"], consultation.pk, department_code="A", reason="Соцвопрос"
    )

    assert hidden.value.status == 404
    assert moved.department.code == "A"
    step = Transition.objects.get(consultation=consultation, action="forward")
    assert step.details["from_department"] == "B"
    assert step.details["to_department"] == "A"
    assert services.get_visible(demo["operator"], consultation.pk) == moved
