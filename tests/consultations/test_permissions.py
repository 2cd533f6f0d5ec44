import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import transaction

from protokol.accounts.services import create_user, ensure_department
from protokol.catalog.services import ensure_service
from protokol.consultations import permissions, services
from protokol.consultations.models import Consultation, Status

from .factories import act, consultation_in, open_consultation

# Labels of the consultations that each demo account may see.
EXPECTED_VISIBLE = {
    "citizen": {"a_citizen_new", "a_citizen_signed", "b_citizen"},
    "citizen2": {"a_citizen2", "b_citizen2_drafting"},
    "operator": {"a_citizen_new", "a_citizen_signed", "a_citizen2"},
    "reviewer": {"a_citizen_new", "a_citizen_signed", "a_citizen2"},
    "operator2": {"b_citizen", "b_citizen2_drafting"},
    "supervisor": "all",
    "auditor": "all",
    "admin": "all",
}


@pytest.fixture
def spread(demo):
    """Consultations of both citizens in departments A and B, by label."""
    b_drafting = open_consultation(demo["citizen2"], service_code="PAS")
    act(demo["operator2"], b_drafting, "take")
    return {
        "a_citizen_new": open_consultation(demo["citizen"]),
        "a_citizen_signed": consultation_in(demo, Status.SIGNED),
        "a_citizen2": open_consultation(demo["citizen2"], service_code="SOC"),
        "b_citizen": open_consultation(demo["citizen"], service_code="INN"),
        "b_citizen2_drafting": b_drafting,
    }


def scope_ids(user) -> set[int]:
    return set(
        Consultation.objects.filter(permissions.consultation_scope(user)).values_list(
            "pk", flat=True
        )
    )


def test_scope_agrees_with_can_view(demo, spread):
    inactive = create_user("inactive", role="operator", password=None)
    inactive.departments.set(demo["operator"].departments.all())
    inactive.is_active = False
    inactive.save()
    users = [*demo.values(), inactive, AnonymousUser()]
    consultations = list(Consultation.objects.all())

    for user in users:
        by_predicate = {
            c.pk for c in consultations if permissions.can_view_consultation(user, c)
        }
        assert scope_ids(user) == by_predicate, str(user)


@pytest.mark.parametrize("username", sorted(EXPECTED_VISIBLE))
def test_scope_matches_expected_visibility(demo, spread, username):
    expected = EXPECTED_VISIBLE[username]
    if expected == "all":
        expected = set(spread)

    visible = {
        label
        for label, consultation in spread.items()
        if consultation.pk in scope_ids(demo[username])
    }

    assert visible == expected


def test_inactive_user_sees_nothing(demo, spread):
    user = demo["supervisor"]
    user.is_active = False
    user.save()

    assert scope_ids(user) == set()


def test_anonymous_sees_nothing(spread):
    assert scope_ids(AnonymousUser()) == set()


def test_new_department_visible_to_all_departments_role(demo):
    with transaction.atomic():
        department = ensure_department("C", "Новый отдел")
        ensure_service("NEW", name="Новая услуга", department=department)
    consultation = open_consultation(demo["citizen"], service_code="NEW")

    assert permissions.can_view_consultation(demo["auditor"], consultation)
    assert consultation.pk in scope_ids(demo["auditor"])


def test_citizen_cannot_view_internal(consultation, demo):
    assert not permissions.can_view_internal(demo["citizen"], consultation)


@pytest.mark.parametrize("username", ["operator", "reviewer", "supervisor", "auditor"])
def test_staff_can_view_internal(consultation, demo, username):
    assert permissions.can_view_internal(demo[username], consultation)


def test_other_department_cannot_view_internal(consultation, demo):
    assert not permissions.can_view_internal(demo["operator2"], consultation)


@pytest.mark.parametrize("action", ["take", "withdraw", "sign", "conclude"])
def test_outsider_cannot_take_action(consultation, demo, action):
    for username in ["citizen2", "operator2"]:
        allowed = permissions.can_take_action(demo[username], consultation, action)
        assert not allowed, username


def test_unknown_action_not_allowed(consultation, demo):
    assert not permissions.can_take_action(demo["admin"], consultation, "erase")


def test_only_citizens_create(demo):
    creators = {
        name for name, user in demo.items() if permissions.can_create_consultation(user)
    }

    assert creators == {"citizen", "citizen2"}


def test_outsider_transition_not_found(consultation, demo):
    with pytest.raises(services.NotFound):
        services.transition(demo["operator2"], consultation.pk, action="take")

    consultation.refresh_from_db()
    assert consultation.status == Status.INITIATED
