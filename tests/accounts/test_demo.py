import pytest

from protokol.accounts.demo import ACCOUNTS, seed_demo
from protokol.accounts.models import User
from protokol.catalog.models import Service


def test_seed_creates_accounts_with_roles(demo):
    roles = {name: user.role for name, user in demo.items()}

    assert roles == {username: role for username, role, *_ in ACCOUNTS}


def test_seed_assigns_departments(demo):
    assert [d.code for d in demo["operator"].departments.all()] == ["A"]
    assert [d.code for d in demo["operator2"].departments.all()] == ["B"]
    assert demo["supervisor"].all_departments


def test_seed_routes_services(demo):
    routing = dict(Service.objects.values_list("code", "department__code"))

    assert routing == {"GEN": "A", "SOC": "A", "PAS": "B", "INN": "B"}


def test_seed_twice_creates_nothing(demo):
    assert seed_demo() == 0
    assert User.objects.count() == len(ACCOUNTS)


def test_seeded_staff_are_not_django_staff(demo):
    assert not any(user.is_staff for user in demo.values())


def test_seed_outside_demo_rejected(db, settings):
    settings.DEMO = False

    with pytest.raises(RuntimeError):
        seed_demo()

    assert not User.objects.exists()


def test_display_name_falls_back_to_username(demo):
    user = demo["citizen"]
    user.first_name = user.last_name = ""

    assert user.display_name == "citizen"
