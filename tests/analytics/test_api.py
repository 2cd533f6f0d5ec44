"""The analytics API: access by role and department, filters, drill-down."""

from datetime import timedelta

import pytest

from protokol.consultations import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_departments(demo):
    """One consultation in department A (service GEN) and two in B (service PAS)."""
    citizen = demo["citizen"]
    made = {
        "A": [
            services.create_consultation(
                citizen, service_code="GEN", subject="Пособие", description="Вопрос"
            )
        ],
        "B": [
            services.create_consultation(
                citizen, service_code="PAS", subject=f"Паспорт {n}", description="?"
            )
            for n in range(2)
        ],
    }
    return made


def test_citizen_gets_403(api_client, two_departments):
    api_client.login("citizen")
    for path in ("statistics", "comparison", "problems", "consultations"):
        response = api_client.get(f"/api/v1/analytics/{path}")
        assert response.status_code == 403, path
        assert response.json()["error"] == "forbidden"


def test_anonymous_gets_401(client):
    response = client.get("/api/v1/analytics/statistics")
    assert response.status_code == 401


def test_operator_sees_own_department_only(api_client, two_departments):
    api_client.login("operator")
    body = api_client.get("/api/v1/analytics/statistics?by=department").json()

    assert body["total"]["total"] == 1
    assert [row["key"] for row in body["rows"]] == ["A"]


def test_supervisor_sees_every_department(api_client, two_departments):
    api_client.login("supervisor")
    body = api_client.get("/api/v1/analytics/statistics?by=department").json()

    assert body["total"]["total"] == 3
    assert {row["key"]: row["total"] for row in body["rows"]} == {"A": 1, "B": 2}


def test_operator_filter_on_other_department_is_empty(api_client, two_departments):
    api_client.login("operator")
    body = api_client.get("/api/v1/analytics/statistics?department=B").json()

    assert body["total"]["total"] == 0
    assert body["rows"] == []


def test_drilldown_hides_other_department(api_client, two_departments):
    api_client.login("operator2")
    body = api_client.get("/api/v1/analytics/consultations").json()
    own = {c.pk for c in two_departments["B"]}

    assert body["total"] == 2
    assert {item["id"] for item in body["items"]} == own

    body = api_client.get("/api/v1/analytics/consultations?service=GEN").json()
    assert body["total"] == 0
    assert body["items"] == []


def test_drilldown_lists_numbers_and_subjects(api_client, two_departments):
    api_client.login("supervisor")
    body = api_client.get("/api/v1/analytics/consultations?service=GEN").json()

    (item,) = body["items"]
    assert item["number"] == two_departments["A"][0].number
    assert item["subject"] == "Пособие"
    assert set(item) == {"id", "number", "subject", "status", "created_at"}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("date_from=2021-13-01", "date_from"),
        ("date_from=2021-03-02&date_to=2021-03-01", "date_to"),
        ("service=NOPE", "service"),
        ("department=NOPE", "department"),
        ("channel=fax", "channel"),
        ("granularity=day", "granularity"),
        ("repeat_days=0", "repeat_days"),
        ("repeat_days=x", "repeat_days"),
        ("operator=999999", "operator"),
        ("by=colour", "by"),
        ("date_from=0001-01-01", "date_from"),
        ("date_to=9999-12-31", "date_to"),
        ("date_from=20210101", "date_from"),
        ("date_from=2021-W01-1", "date_from"),
        ("date_to=2021-01-01T00:00", "date_to"),
        ("date_to=%D9%A2021-01-01", "date_to"),
    ],
)
def test_bad_filter_names_field(api_client, two_departments, query, field):
    api_client.login("supervisor")
    response = api_client.get(f"/api/v1/analytics/statistics?{query}")

    assert response.status_code == 422
    assert response.json()["field"] == field


@pytest.mark.parametrize("name", ["service", "department", "district", "channel"])
@pytest.mark.parametrize("path", ["statistics", "comparison", "consultations"])
def test_nul_in_text_filter_names_field(api_client, two_departments, name, path):
    # PostgreSQL fails on text that contains NUL, so no query may receive it.
    api_client.login("supervisor")
    response = api_client.get(f"/api/v1/analytics/{path}?{name}=a%00b")

    assert response.status_code == 422
    assert response.json()["field"] == name


def test_operator_filter_rejects_citizen_id(api_client, demo, two_departments):
    api_client.login("supervisor")
    citizen = api_client.get(
        f"/api/v1/analytics/statistics?operator={demo['citizen'].pk}"
    )
    unknown = api_client.get("/api/v1/analytics/statistics?operator=999999")

    assert citizen.status_code == 422
    assert citizen.json()["field"] == "operator"
    assert citizen.json()["message"].replace(str(demo["citizen"].pk), "N") == (
        unknown.json()["message"].replace("999999", "N")
    )


def test_bad_measure_names_field(api_client, two_departments):
    api_client.login("supervisor")
    response = api_client.get("/api/v1/analytics/consultations?measure=secret")

    assert response.status_code == 422
    assert response.json()["field"] == "measure"


@pytest.mark.parametrize(
    "query, field",
    [("offset=99999999999999999999", "offset"), ("limit=0", "limit")],
)
def test_bad_drilldown_page_names_field(api_client, two_departments, query, field):
    api_client.login("supervisor")
    response = api_client.get(f"/api/v1/analytics/consultations?{query}")

    assert response.status_code == 422
    assert response.json()["field"] == field


@pytest.mark.parametrize(
    "path", ["comparison", "problems", "consultations", "statistics?by=period"]
)
def test_extreme_dates_rejected_everywhere(api_client, two_departments, path):
    api_client.login("supervisor")
    separator = "&" if "?" in path else "?"
    response = api_client.get(f"/api/v1/analytics/{path}{separator}date_to=9999-12-31")

    assert response.status_code == 422
    assert response.json()["field"] == "date_to"


def test_bad_threshold_names_field(api_client, two_departments):
    api_client.login("supervisor")
    response = api_client.get("/api/v1/analytics/problems?threshold=0.5")

    assert response.status_code == 422
    assert response.json()["field"] == "threshold"


def test_comparison_by_operator(api_client, two_departments, demo):
    consultation = two_departments["A"][0]
    services.transition(demo["operator"], consultation.pk, action="take")
    api_client.login("supervisor")
    body = api_client.get("/api/v1/analytics/comparison?by=operator").json()

    keys = {row["key"] for row in body["rows"]}
    assert demo["operator"].pk in keys
    assert None in keys


def test_date_filter_message_names_format(api_client, two_departments, english_pages):
    api_client.login("supervisor")
    response = api_client.get("/api/v1/analytics/statistics?date_from=20210101")

    assert response.status_code == 422
    assert response.json()["message"] == "date_from must be a date as YYYY-MM-DD."


@pytest.mark.parametrize(
    ("granularity", "label"), [("month", "%Y-%m"), ("week", "%G-W%V")]
)
def test_period_keys_are_dates(api_client, two_departments, granularity, label):
    from django.utils import timezone

    today = timezone.localdate()
    first = today.replace(day=1) if granularity == "month" else today
    first -= timedelta(days=first.weekday() if granularity == "week" else 0)
    api_client.login("supervisor")
    body = api_client.get(
        f"/api/v1/analytics/statistics?by=period&granularity={granularity}"
    ).json()

    (row,) = body["rows"]
    assert row["key"] == first.isoformat()
    assert row["param"] == first.isoformat()
    assert row["label"] == first.strftime(label)
