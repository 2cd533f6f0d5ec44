"""Routing rules: the first matching rule by priority picks the department."""

import pytest

from consultations.factories import open_consultation
from protokol.accounts.models import Department
from protokol.catalog.models import Service
from protokol.workflow.models import RoutingRule


@pytest.fixture
def departments(demo):
    return {d.code: d for d in Department.objects.all()}


def _open(demo, subject="Пособие на ребёнка", service_code="GEN"):
    return open_consultation(
        demo["citizen"], service_code=service_code, subject=subject
    )


def test_without_rules_the_service_department_answers(demo):
    consultation = _open(demo)

    assert consultation.department == Service.objects.get(code="GEN").department


def test_keyword_rule_matches_ignoring_case(demo, departments):
    RoutingRule.objects.create(
        priority=10, keywords="субсидия, ЖКХ", department=departments["B"]
    )

    matched = _open(demo, subject="Вопрос о субсидии по жкх")
    unmatched = _open(demo, subject="Пособие на ребёнка")

    assert matched.department.code == "B"
    assert unmatched.department.code == "A"


def test_first_rule_by_priority_wins(demo, departments):
    RoutingRule.objects.create(
        priority=20, keywords="пособ", department=departments["A"]
    )
    RoutingRule.objects.create(
        priority=10, keywords="пособ", department=departments["B"]
    )

    assert _open(demo).department.code == "B"


def test_service_condition_limits_the_rule(demo, departments):
    RoutingRule.objects.create(
        priority=10,
        service=Service.objects.get(code="SOC"),
        department=departments["B"],
    )

    assert _open(demo, service_code="SOC").department.code == "B"
    assert _open(demo, service_code="GEN").department.code == "A"


def test_inactive_rule_is_skipped(demo, departments):
    RoutingRule.objects.create(
        priority=10, keywords="пособ", department=departments["B"], is_active=False
    )

    assert _open(demo).department.code == "A"
