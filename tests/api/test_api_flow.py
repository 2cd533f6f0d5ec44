"""The API used as clients use it: from a new consultation to its archive."""

import re
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from consultations.factories import PROTOCOL, act, open_consultation
from protokol.consultations.models import Message, Transition
from protokol.journal.models import JournalEntry

from .client import ApiClient

NEW = {
    "service": "GEN",
    "subject": "Пособие на ребёнка",
    "description": "Какие документы нужны для оформления пособия?",
}


@pytest.fixture
def created(api):
    """A consultation opened through the API by the demo citizen."""
    response = api("citizen").post("/consultations", NEW)
    assert response.status_code == 201
    return response.json()


def transition(client, consultation_id: int, action: str, comment: str = ""):
    return client.post(
        f"/consultations/{consultation_id}/transitions",
        {"action": action, "comment": comment},
    )


def test_healthz_ok(db):
    response = Client().get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_openapi_lists_paths(db):
    response = Client().get("/api/v1/openapi.json")

    paths = set(response.json()["paths"])
    assert response.status_code == 200
    assert paths >= {
        "/api/v1/auth/token",
        "/api/v1/services",
        "/api/v1/departments",
        "/api/v1/consultations",
        "/api/v1/consultations/{consultation_id}",
        "/api/v1/consultations/{consultation_id}/messages",
        "/api/v1/consultations/{consultation_id}/attachments",
        "/api/v1/consultations/{consultation_id}/attachments/{attachment_id}",
        "/api/v1/consultations/{consultation_id}/protocol",
        "/api/v1/consultations/{consultation_id}/protocol.pdf",
        "/api/v1/consultations/{consultation_id}/transitions",
        "/api/v1/consultations/{consultation_id}/forward",
        "/api/v1/consultations/{consultation_id}/journal",
    }


def test_openapi_declares_bearer_auth(db):
    schemes = Client().get("/api/v1/openapi.json").json()["components"]
    schemes = schemes["securitySchemes"]

    assert any(scheme.get("scheme") == "bearer" for scheme in schemes.values())


def test_services_listed(api):
    listed = api("citizen").get("/services").json()

    by_code = {service["code"]: service for service in listed}
    assert set(by_code) == {"GEN", "SOC", "PAS", "INN"}
    assert by_code["PAS"]["department"] == "B"
    assert by_code["PAS"]["deadline_days"] == 15
    assert by_code["SOC"]["required_fields"] == ["snils"]


def test_departments_listed(api):
    departments = api("operator").get("/departments").json()

    assert {d["code"] for d in departments} == {"A", "B"}


def test_create_returns_201_with_number(api):
    response = api("citizen").post("/consultations", NEW)

    body = response.json()
    assert response.status_code == 201
    assert re.fullmatch(r"КП-\d{4}-\d{6}", body["number"])
    assert body["status"] == "initiated"
    assert body["channel"] == "api"
    assert body["service"] == "GEN"
    assert body["department"] == "A"
    assert body["closed_at"] is None


def test_create_number_uses_current_year(api):
    body = api("citizen").post("/consultations", NEW).json()

    assert body["number"].split("-")[1] == str(timezone.now().year)


def test_create_sets_deadline(api):
    body = api("citizen").post("/consultations", NEW).json()

    created = datetime.fromisoformat(body["created_at"])
    deadline = datetime.fromisoformat(body["deadline"])
    assert deadline - created == timedelta(days=30)


def test_detail_returns_consultation(api, created):
    response = api("citizen").get(f"/consultations/{created['id']}")

    body = response.json()
    assert response.status_code == 200
    assert body["number"] == created["number"]
    assert body["subject"] == NEW["subject"]
    assert body["description"] == NEW["description"]
    assert body["service"]["code"] == "GEN"
    assert body["department"]["code"] == "A"
    assert body["citizen"] == {"name": "Анна Иванова", "role": "citizen"}
    assert body["allowed_actions"] == ["withdraw"]


def test_detail_journals_read(api, created, demo):
    api("operator").get(f"/consultations/{created['id']}")

    entry = JournalEntry.objects.order_by("-index").first()
    assert entry.action == "consultation:read"
    assert entry.actor_id == demo["operator"].pk
    assert entry.consultation_id == created["id"]
    assert entry.after == {"via": "api"}


def test_denied_detail_journals_access_denied(api, created, demo):
    api("citizen2").get(f"/consultations/{created['id']}")

    entry = JournalEntry.objects.order_by("-index").first()
    assert entry.action == "access:denied"
    assert entry.actor_id == demo["citizen2"].pk
    assert entry.object_id == str(created["id"])


def test_entries_carry_request_id(api, created):
    client = api("operator")
    client.headers["HTTP_X_REQUEST_ID"] = "req-12345"

    response = client.get(f"/consultations/{created['id']}")

    entry = JournalEntry.objects.order_by("-index").first()
    assert response["X-Request-ID"] == "req-12345"
    assert entry.request_id == "req-12345"


# -- lists


@pytest.fixture
def several(demo):
    """Consultations of the citizen across services and statuses."""
    general = open_consultation(demo["citizen"], subject="Пособие на ребёнка")
    social = open_consultation(
        demo["citizen"], service_code="SOC", subject="Субсидия на ЖКУ"
    )
    passport = open_consultation(
        demo["citizen"], service_code="PAS", subject="Замена паспорта"
    )
    act(demo["operator"], social, "take")
    return {"general": general, "social": social, "passport": passport}


def listed_numbers(client, **params) -> list[str]:
    return [
        item["number"]
        for item in client.get("/consultations", **params).json()["items"]
    ]


def test_list_returns_items_and_count(api, several):
    body = api("citizen").get("/consultations").json()

    assert set(body) == {"items", "count", "more"}
    assert body["count"] == 3
    assert len(body["items"]) == 3


def test_list_filters_by_status(api, several):
    numbers = listed_numbers(api("citizen"), status="drafting")

    assert numbers == [several["social"].number]


def test_list_filters_by_service(api, several):
    numbers = listed_numbers(api("citizen"), service="PAS")

    assert numbers == [several["passport"].number]


def test_list_filters_by_department(api, several):
    numbers = listed_numbers(api("citizen"), department="A")

    assert set(numbers) == {several["general"].number, several["social"].number}


def test_list_filters_by_subject_text(api, several):
    numbers = listed_numbers(api("citizen"), q="паспорт")

    assert numbers == [several["passport"].number]


def test_list_filters_by_number(api, several):
    numbers = listed_numbers(api("citizen"), q=several["social"].number)

    assert numbers == [several["social"].number]


def test_list_search_ignores_cyrillic_case(api, several):
    numbers = listed_numbers(api("citizen"), q="ЗАМЕНА")

    assert numbers == [several["passport"].number]


def test_list_combines_filters(api, several):
    numbers = listed_numbers(api("citizen"), department="A", status="initiated")

    assert numbers == [several["general"].number]


def test_list_pages_with_limit_and_offset(api, several):
    client = api("citizen")

    first = client.get("/consultations", limit=2, offset=0).json()
    second = client.get("/consultations", limit=2, offset=2).json()

    assert first["count"] == second["count"] == 3
    assert len(first["items"]) == 2
    assert len(second["items"]) == 1
    numbers = [item["number"] for item in first["items"] + second["items"]]
    assert sorted(numbers) == sorted(c.number for c in several.values())


def test_list_newest_first(api, several):
    numbers = listed_numbers(api("citizen"))

    assert numbers == [
        several["passport"].number,
        several["social"].number,
        several["general"].number,
    ]


def test_list_journals_read(api, several, demo):
    api("citizen").get("/consultations", status="initiated")

    entry = JournalEntry.objects.order_by("-index").first()
    assert entry.action == "consultation:list"
    assert entry.actor_id == demo["citizen"].pk
    assert entry.after == {"count": 2, "filters": {"status": "initiated"}}


# -- dialogue


def test_message_created(api, created):
    response = api("citizen").post(
        f"/consultations/{created['id']}/messages", {"text": "Добрый день"}
    )

    body = response.json()
    assert response.status_code == 201
    assert body["text"] == "Добрый день"
    assert body["visibility"] == "public"
    assert body["author_name"] == "Анна Иванова"
    assert body["author_role"] == "citizen"


def test_internal_message_hidden_from_citizen(api, created):
    path = f"/consultations/{created['id']}"
    api("citizen").post(f"{path}/messages", {"text": "Вопрос"})
    api("operator").post(
        f"{path}/messages", {"text": "Служебно", "visibility": "internal"}
    )
    api("operator").post(f"{path}/messages", {"text": "Ответ"})

    citizen_view = api("citizen").get(path).json()["messages"]
    operator_view = api("operator").get(path).json()["messages"]

    assert [m["text"] for m in citizen_view] == ["Вопрос", "Ответ"]
    assert [m["text"] for m in operator_view] == ["Вопрос", "Служебно", "Ответ"]


def test_internal_message_hidden_from_citizen_journal(api, created):
    path = f"/consultations/{created['id']}"
    api("operator").post(
        f"{path}/messages", {"text": "Служебно", "visibility": "internal"}
    )

    entries = api("citizen").get(f"{path}/journal").json()

    assert "Служебно" not in str(entries)


# -- protocol


def test_protocol_null_before_first_save(api, created):
    response = api("citizen").get(f"/consultations/{created['id']}/protocol")

    assert response.status_code == 200
    assert response.json() is None


def test_protocol_put_creates_versions(api, created):
    path = f"/consultations/{created['id']}/protocol"

    first = api("operator").put(path, PROTOCOL)
    second = api("reviewer").put(path, {**PROTOCOL, "decision": "Уточнено"})

    assert first.status_code == 200
    assert first.json()["version"] == 1
    assert second.json()["version"] == 2
    assert second.json()["author_name"] == "Роман Кузнецов"


def test_protocol_get_returns_latest(api, created):
    path = f"/consultations/{created['id']}/protocol"
    api("operator").put(path, PROTOCOL)
    api("operator").put(path, {**PROTOCOL, "decision": "Уточнено"})

    body = api("citizen").get(path).json()

    assert body["version"] == 2
    assert body["decision"] == "Уточнено"


def test_protocol_versions_listed_in_detail(api, created):
    path = f"/consultations/{created['id']}"
    api("operator").put(f"{path}/protocol", PROTOCOL)
    api("operator").put(f"{path}/protocol", PROTOCOL)

    versions = api("citizen").get(path).json()["protocol_versions"]

    assert [v["version"] for v in versions] == [1, 2]


# -- lifecycle


def test_full_lifecycle_through_api(api, created):
    pk = created["id"]
    operator = api("operator")

    steps = [
        (operator, "take", "", "drafting"),
        (operator, "request_data", "Нужна копия паспорта", "data_requested"),
        (api("citizen"), "provide_data", "Копия приложена", "drafting"),
        (operator, "submit", "", "in_review"),
        (api("reviewer"), "return", "Уточните решение", "drafting"),
        (operator, "submit", "", "in_review"),
        (api("reviewer"), "approve", "", "approved"),
        (api("supervisor"), "sign", "", "signed"),
        (operator, "archive", "", "archived"),
    ]
    operator.put(f"/consultations/{pk}/protocol", PROTOCOL)

    for client, action, comment, expected in steps:
        response = transition(client, pk, action, comment)
        assert response.status_code == 200, (action, response.json())
        assert response.json()["status"] == expected, action

    assert response.json()["closed_at"] is not None
    actions = list(
        Transition.objects.filter(consultation_id=pk).values_list("action", flat=True)
    )
    assert actions == [step[1] for step in steps]


def test_transition_response_shape(api, created):
    response = transition(api("operator"), created["id"], "take")

    body = response.json()
    assert body["id"] == created["id"]
    assert body["number"] == created["number"]
    assert body["status"] == "drafting"


def test_dispute_and_conclude_through_api(api, created):
    pk = created["id"]
    operator = api("operator")
    operator.put(f"/consultations/{pk}/protocol", PROTOCOL)
    transition(operator, pk, "take")
    transition(operator, pk, "submit")
    transition(api("reviewer"), pk, "approve")
    transition(api("reviewer"), pk, "sign")

    disputed = transition(api("citizen"), pk, "dispute", "Не согласна с ответом")
    concluded = transition(api("supervisor"), pk, "conclude", "Ответ верен")

    assert disputed.json()["status"] == "disputed"
    assert concluded.json()["status"] == "archived"
    addenda = api("citizen").get(f"/consultations/{pk}").json()["addenda"]
    assert [(a["kind"], a["text"]) for a in addenda] == [("conclusion", "Ответ верен")]


def test_withdraw_sets_closed_at(api, created):
    response = transition(api("citizen"), created["id"], "withdraw")

    assert response.json()["status"] == "withdrawn"
    assert response.json()["closed_at"] is not None


# -- forward


def test_forward_changes_department(api, created):
    response = api("operator").post(
        f"/consultations/{created['id']}/forward",
        {"department": "B", "reason": "Вопрос о паспорте"},
    )

    assert response.status_code == 200
    assert response.json()["department"] == "B"


def test_forward_records_transition(api, created):
    api("operator").post(
        f"/consultations/{created['id']}/forward",
        {"department": "B", "reason": "Вопрос о паспорте"},
    )

    row = Transition.objects.get(consultation_id=created["id"], action="forward")
    assert row.details["from_department"] == "A"
    assert row.details["to_department"] == "B"
    assert row.details["old_deadline"] != row.details["new_deadline"]
    assert row.comment == "Вопрос о паспорте"


def test_forward_restarts_deadline(api, created):
    before = timezone.now()

    body = (
        api("operator")
        .post(
            f"/consultations/{created['id']}/forward",
            {"department": "B", "reason": "Вопрос о паспорте"},
        )
        .json()
    )

    deadline = datetime.fromisoformat(body["deadline"])
    assert deadline >= before + timedelta(days=30)


def test_forward_hands_over_access(api, created):
    path = f"/consultations/{created['id']}"
    api("operator").post(
        f"{path}/forward", {"department": "B", "reason": "Вопрос о паспорте"}
    )

    assert api("operator2").get(path).status_code == 200
    assert api("operator").get(path).status_code == 404


def test_forward_shown_in_detail(api, created):
    path = f"/consultations/{created['id']}"
    api("operator").post(
        f"{path}/forward", {"department": "B", "reason": "Вопрос о паспорте"}
    )

    transitions = api("citizen").get(path).json()["transitions"]

    assert [t["action"] for t in transitions] == ["forward"]
    assert transitions[0]["details"]["to_department"] == "B"


# -- journal


def test_journal_lists_consultation_entries(api, created):
    path = f"/consultations/{created['id']}"
    api("citizen").post(f"{path}/messages", {"text": "Вопрос"})
    transition(api("operator"), created["id"], "take")

    entries = api("citizen").get(f"{path}/journal").json()

    actions = [entry["action"] for entry in entries]
    assert actions[:3] == [
        "consultation:create",
        "message:create",
        "consultation:transition",
    ]
    indexes = [entry["index"] for entry in entries]
    assert indexes == sorted(indexes)


def test_journal_entry_fields(api, created):
    entries = api("citizen").get(f"/consultations/{created['id']}/journal").json()

    assert set(entries[0]) == {
        "index",
        "created_at",
        "action",
        "actor_name",
        "actor_role",
        "object_type",
        "object_id",
        "object_label",
        "request_id",
        "before",
        "after",
        "leaf_hash",
        "format",
        "payload_hash",
    }
    assert re.fullmatch(r"[0-9a-f]{64}", entries[0]["leaf_hash"])


def test_journal_read_is_journaled(api, created):
    path = f"/consultations/{created['id']}/journal"
    api("auditor").get(path)

    entries = api("auditor").get(path).json()

    assert entries[-1]["action"] == "journal:read"
    assert entries[-1]["actor_role"] == "auditor"


def test_session_without_csrf_cannot_write(api, created, demo):
    client = ApiClient()
    client.client = Client(enforce_csrf_checks=True)
    client.client.force_login(demo["citizen"])

    response = client.post(
        f"/consultations/{created['id']}/messages", {"text": "Без CSRF"}
    )

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert not Message.objects.exists()


def test_list_count_stops_at_the_limit(api, several, monkeypatch):
    from protokol.web import paging

    monkeypatch.setattr(paging.capped_count, "__defaults__", (2,))

    body = api("citizen").get("/consultations").json()

    assert (body["count"], body["more"], len(body["items"])) == (2, True, 3)
