"""The whole transition table: every status × action × role, through the service."""

import pytest
from django.db import transaction

from protokol.consultations import lifecycle, services
from protokol.consultations.models import Status
from protokol.errors import ActionNotAllowed, PermissionDenied

from .factories import consultation_in

# The expected table is written out here rather than read from the lifecycle
# module, so a change to the lifecycle shows up as a failing test.
ROLES_OF_ACTION = {
    "take": {"operator"},
    "request_data": {"operator"},
    "provide_data": {"citizen"},
    "submit": {"operator"},
    "return": {"reviewer"},
    "approve": {"reviewer"},
    "sign": {"reviewer", "supervisor"},
    "archive": {"operator", "supervisor"},
    "withdraw": {"citizen"},
    "dispute": {"citizen"},
    "conclude": {"supervisor"},
    "reopen": {"supervisor"},
}
ACTIONS_IN_STATUS = {
    Status.INITIATED: {"take", "request_data", "withdraw"},
    Status.DATA_REQUESTED: {"provide_data", "withdraw"},
    Status.DRAFTING: {"request_data", "submit", "withdraw"},
    Status.IN_REVIEW: {"return", "approve", "withdraw"},
    Status.APPROVED: {"sign", "withdraw"},
    Status.SIGNED: {"archive", "dispute"},
    Status.ARCHIVED: {"dispute"},
    Status.WITHDRAWN: set(),
    Status.DISPUTED: {"conclude", "reopen"},
}
TARGET_OF_ACTION = {
    "take": Status.DRAFTING,
    "request_data": Status.DATA_REQUESTED,
    "provide_data": Status.DRAFTING,
    "submit": Status.IN_REVIEW,
    "return": Status.DRAFTING,
    "approve": Status.APPROVED,
    "sign": Status.SIGNED,
    "archive": Status.ARCHIVED,
    "withdraw": Status.WITHDRAWN,
    "dispute": Status.DISPUTED,
    "conclude": Status.ARCHIVED,
    "reopen": Status.DRAFTING,
}
# Demo account for each role under test. Each may see a department A case.
ACCOUNT_OF_ROLE = {
    "citizen": "citizen",
    "operator": "operator",
    "reviewer": "reviewer",
    "supervisor": "supervisor",
    "auditor": "auditor",
    "admin": "admin",
}


def expected_outcome(status: str, action: str, role: str) -> str:
    if role not in ROLES_OF_ACTION[action]:
        return "403"
    if action not in ACTIONS_IN_STATUS[status]:
        allowed = [a for a in ACTIONS_IN_STATUS[status] if role in ROLES_OF_ACTION[a]]
        return f"409 {sorted(allowed)}"
    return f"ok -> {TARGET_OF_ACTION[action]}"


def attempt(user, consultation, action: str) -> str:
    """Try `action` and roll it back, so the consultation keeps its status."""
    try:
        with transaction.atomic():
            result = services.transition(
                user, consultation.pk, action=action, comment="Комментарий"
            )
            transaction.set_rollback(True)
    except PermissionDenied as error:
        return str(error.status)
    except ActionNotAllowed as error:
        return f"{error.status} {error.extra['allowed_actions']}"
    return f"ok -> {result.status}"


def test_table_covers_every_action():
    assert set(ROLES_OF_ACTION) == set(lifecycle.ACTIONS)


def test_table_covers_every_status():
    assert set(ACTIONS_IN_STATUS) == set(Status.values)


@pytest.mark.parametrize("status", Status.values)
def test_transition_outcomes_match_table(demo, status):
    consultation = consultation_in(demo, status)
    assert consultation.status == status

    outcomes = {}
    expected = {}
    for action in ROLES_OF_ACTION:
        for role, username in ACCOUNT_OF_ROLE.items():
            outcomes[action, role] = attempt(demo[username], consultation, action)
            expected[action, role] = expected_outcome(status, action, role)

    assert outcomes == expected


@pytest.mark.parametrize("status", Status.values)
def test_allowed_actions_for_role_match_table(status):
    for role in ACCOUNT_OF_ROLE:
        expected = sorted(
            action
            for action in ACTIONS_IN_STATUS[status]
            if role in ROLES_OF_ACTION[action]
        )
        assert sorted(lifecycle.allowed_actions_for(status, role)) == expected, role
