"""Field definitions of services and the migration from bare field names."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from protokol.catalog.fields import definitions_from_names, parse_definitions
from protokol.catalog.models import Service
from protokol.catalog.services import ensure_service
from protokol.errors import ValidationFailed


def test_demo_services_have_typed_fields(demo):
    passport = Service.objects.get(code="PAS")

    types = {d.name: d.type for d in passport.fields}
    assert types == {
        "passport": "passport",
        "birth_date": "date",
        "reason": "choice",
        "photo": "file",
    }
    assert passport.required_fields == ["passport"]
    assert [d.name for d in passport.value_fields] == [
        "passport",
        "birth_date",
        "reason",
    ]


def test_field_without_label_shows_type_label():
    (field,) = parse_definitions([{"name": "snils", "type": "snils"}])

    assert field.localized_label() == "СНИЛС"
    assert field.required is False


def test_bare_names_become_required_fields():
    definitions = parse_definitions(definitions_from_names(["inn", "car_number"]))

    assert [(d.name, d.type, d.required) for d in definitions] == [
        ("inn", "inn", True),
        ("car_number", "text", True),
    ]
    assert definitions[0].localized_label() == "ИНН"
    assert definitions[1].localized_label() == "car_number"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ([{"name": "Bad Name", "type": "text"}], "data_fields[0].name"),
        ([{"name": "x", "type": "number"}], "data_fields[0].type"),
        ([{"name": "x", "type": "choice"}], "data_fields[0].choices"),
        (
            [{"name": "x", "type": "choice", "choices": [{"value": "a"}] * 2}],
            "data_fields[0].choices",
        ),
        ([{"name": "x", "type": "text", "label": 5}], "data_fields[0].label"),
        (
            [{"name": "x", "type": "text"}, {"name": "x", "type": "inn"}],
            "data_fields[1].name",
        ),
        ({"name": "x"}, "data_fields"),
    ],
)
def test_invalid_definition_names_entry(raw, field):
    with pytest.raises(ValidationFailed) as caught:
        parse_definitions(raw)

    assert caught.value.field == field


def test_ensure_service_rejects_invalid_fields(demo):
    with pytest.raises(ValidationFailed) as caught:
        ensure_service(
            "BAD",
            name="Плохая услуга",
            department=Service.objects.get(code="GEN").department,
            data_fields=[{"name": "ogrn", "type": "ogrnip"}],
        )

    assert caught.value.field == "data_fields[0].type"
    assert not Service.objects.filter(code="BAD").exists()


@pytest.fixture
def schema_restored(committed_db):
    """Migrate the test database back to every app's latest migration after
    the test, because migrating catalog backwards also unapplies the
    migrations of other apps that depend on it."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_migration_turns_names_into_definitions(schema_restored):
    executor = MigrationExecutor(connection)
    before = [("catalog", "0001_initial")]
    executor.migrate(before)
    old_apps = executor.loader.project_state(before).apps
    department = old_apps.get_model("accounts", "Department").objects.create(
        code="M", name="Отдел миграции"
    )
    old_apps.get_model("catalog", "Service").objects.create(
        code="OLD",
        name="Старая услуга",
        department=department,
        required_fields=["snils", "postal_address"],
    )

    executor = MigrationExecutor(connection)
    executor.migrate([("catalog", "0002_service_data_fields")])

    service = Service.objects.get(code="OLD")
    assert [(d.name, d.type, d.required) for d in service.fields] == [
        ("snils", "snils", True),
        ("postal_address", "text", True),
    ]
    assert service.fields[1].localized_label() == "Почтовый адрес"
    assert service.required_fields == ["snils", "postal_address"]
