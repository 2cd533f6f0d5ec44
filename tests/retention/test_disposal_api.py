"""GET /api/v1/retention/disposals shows each reader the departments it may see."""

import pytest
from django.db import transaction

from api.client import login
from protokol.accounts.models import Department, Role
from protokol.accounts.services import create_user
from protokol.journal import services as journal
from protokol.journal.models import JournalAction
from protokol.retention import disposal
from protokol.retention.services import set_policy


@pytest.fixture
def department_readers(demo):
    """Create readers limited to department A or B (password "demo")."""
    departments = {code: Department.objects.get(code=code) for code in ("A", "B")}
    for username, role, code in [
        ("supervisor_a", Role.SUPERVISOR, "A"),
        ("supervisor_b", Role.SUPERVISOR, "B"),
        ("auditor_b", Role.AUDITOR, "B"),
        ("admin_b", Role.ADMIN, "B"),
    ]:
        create_user(
            username, role=role, password="demo", departments=[departments[code]]
        )


def disposed_numbers(username: str) -> list[str]:
    response = login(username).get("/retention/disposals")
    assert response.status_code == 200, response.content
    return [item["number"] for item in response.json()]


def test_disposals_scoped_to_department(demo, archived, department_readers):
    set_policy(demo["admin"], "GEN", years=5, end_action="delete")
    consultation = archived(6)
    disposal.run()

    assert disposed_numbers("supervisor_a") == [consultation.number]
    assert disposed_numbers("supervisor_b") == []
    for username in ("supervisor", "auditor", "auditor_b", "admin", "admin_b"):
        assert disposed_numbers(username) == [consultation.number], username


def test_disposals_follow_last_department(demo, archived, department_readers):
    set_policy(demo["admin"], "GEN", years=5, end_action="delete")
    consultation = archived(6)
    # The latest journal entry naming a department wins, as after a forward.
    with transaction.atomic():
        journal.record(
            JournalAction.CONSULTATION_FORWARD,
            actor=demo["admin"],
            object_type="consultation",
            object_id=consultation.pk,
            object_label=consultation.number,
            consultation_id=consultation.pk,
            after={"department_id": Department.objects.get(code="B").pk},
        )
    disposal.run()

    assert disposed_numbers("supervisor_a") == []
    assert disposed_numbers("supervisor_b") == [consultation.number]


@pytest.mark.parametrize("limit", ["0", "-1", "1001", str(10**20)])
def test_disposals_limit_out_of_range(demo, limit):
    response = login("admin").get("/retention/disposals", limit=limit)

    assert response.status_code == 422, response.content
    assert response.json()["field"] == "limit"
