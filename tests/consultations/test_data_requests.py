"""Data requests through the API: asking, answering, the checklist and prefill."""

import pytest
from django.utils import translation

from protokol.accounts import identifiers
from protokol.consultations import data_requests, personal_data, services
from protokol.consultations.models import (
    CollectedData,
    DataRequest,
    DocumentStatus,
    RequestedDocument,
    Status,
)
from protokol.journal.models import JournalAction, JournalEntry
from protokol.journal.services import with_payloads

from .factories import act, open_consultation, upload

SNILS = "274-615-803 89"
SNILS_NORMAL = "27461580389"


@pytest.fixture
def social(demo, master_key_file):
    """A SOC consultation (department A) that the operator has taken."""
    consultation = open_consultation(demo["citizen"], service_code="SOC")
    return act(demo["operator"], consultation, "take")


@pytest.fixture
def requested(demo, social):
    """The SOC consultation with SNILS, phone, the income statement and one
    named document requested."""
    return data_requests.request_data(
        demo["operator"],
        social.pk,
        fields=["snils", "phone", "income_statement"],
        documents=["Справка из школы"],
        comment="Нужны СНИЛС, телефон и справки",
    )


def base(consultation) -> str:
    return f"/api/v1/consultations/{consultation.pk}"


def documents_of(consultation) -> dict[str, RequestedDocument]:
    return {
        d.name: d for d in RequestedDocument.objects.filter(consultation=consultation)
    }


def refreshed(consultation):
    consultation.refresh_from_db()
    return consultation


def test_request_fields_and_documents(api_client, social):
    response = api_client.login("operator").post(
        f"{base(social)}/data-request",
        {
            "fields": ["snils", "phone", "income_statement"],
            "documents": ["Справка из школы"],
            "comment": "Нужны СНИЛС и справки",
            "base_version": social.version,
        },
    )

    body = response.json()
    assert response.status_code == 201, body
    assert refreshed(social).status == Status.DATA_REQUESTED
    assert [f["name"] for f in body["request"]["fields"]] == ["snils", "phone"]
    assert [d["name"] for d in body["checklist"]] == [
        "Справка о доходах",
        "Справка из школы",
    ]
    assert {d["status"] for d in body["checklist"]} == {"requested"}
    assert body["consultation_version"] == refreshed(social).version


def test_request_journaled_with_transition(demo, requested):
    entry = JournalEntry.objects.filter(
        action=JournalAction.CONSULTATION_TRANSITION, consultation_id=requested.pk
    ).last()

    assert entry.after["action"] == "request_data"
    assert entry.after["fields"] == ["snils", "phone"]
    assert entry.after["documents"] == ["Справка о доходах", "Справка из школы"]
    assert entry.actor_id == demo["operator"].pk


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"fields": ["passport"], "comment": "Паспорт"}, "fields"),
        ({"fields": ["snils"], "comment": "  "}, "comment"),
        ({"documents": [""], "comment": "Справка"}, "documents[0]"),
        ({"documents": ["я" * 301], "comment": "Справка"}, "documents[0]"),
        ({"fields": "snils", "comment": "СНИЛС"}, "fields"),
    ],
)
def test_invalid_request_names_field(api_client, social, body, field):
    response = api_client.login("operator").post(f"{base(social)}/data-request", body)

    assert response.status_code == 422, response.content
    assert response.json()["field"] == field
    assert refreshed(social).status == Status.DRAFTING
    assert not DataRequest.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"documents": ["Справка из школы", "Справка из школы"]}, "documents[1]"),
        ({"documents": ["Справка из школы", "справка  из ШКОЛЫ"]}, "documents[1]"),
        (
            {"fields": ["income_statement"], "documents": ["Справка о доходах"]},
            "documents[0]",
        ),
        (
            {"fields": ["income_statement"], "documents": ["Income statement"]},
            "documents[0]",
        ),
    ],
)
def test_duplicate_document_rejected(api_client, social, body, field):
    client = api_client.login("operator")
    client.headers["HTTP_ACCEPT_LANGUAGE"] = "en"
    version = social.version

    response = client.post(
        f"{base(social)}/data-request", {**body, "comment": "Справки"}
    )

    assert response.status_code == 422, response.content
    assert response.json()["field"] == field
    assert response.json()["message"].startswith(f"{field}: document '")
    assert (
        "is already in the request; name each document once."
        in (response.json()["message"])
    )
    assert refreshed(social).status == Status.DRAFTING
    assert refreshed(social).version == version
    assert not DataRequest.objects.exists()
    assert not RequestedDocument.objects.exists()


def test_request_with_many_unknown_fields_rejected(api_client, social):
    names = [f"field{i}" for i in range(20_000)]

    response = api_client.login("operator").post(
        f"{base(social)}/data-request", {"fields": names, "comment": "Поля"}
    )

    assert response.status_code == 422, response.content[:300]
    assert response.json()["field"] == "fields"
    # One error for the list, not one per name that repeats the allowed ones.
    assert len(response.content) < 2000
    assert not DataRequest.objects.exists()


def test_request_on_stale_version_conflicts(api_client, social):
    response = api_client.login("operator").post(
        f"{base(social)}/data-request",
        {"fields": ["snils"], "comment": "СНИЛС", "base_version": social.version - 1},
    )

    assert response.status_code == 409
    assert response.json()["error"] == "stale_version"
    assert not DataRequest.objects.exists()


def test_citizen_cannot_request_data(api_client, social):
    response = api_client.login("citizen").post(
        f"{base(social)}/data-request", {"fields": ["snils"], "comment": "СНИЛС"}
    )

    assert response.status_code == 403
    assert not DataRequest.objects.exists()


def test_citizen_sees_exactly_requested(api_client, requested):
    response = api_client.login("citizen").get(f"{base(requested)}/data-request")

    body = response.json()
    assert response.status_code == 200
    assert [f["name"] for f in body["request"]["fields"]] == ["snils", "phone"]
    assert [f["type"] for f in body["request"]["fields"]] == ["snils", "phone"]
    assert [d["name"] for d in body["request"]["documents"]] == [
        "Справка о доходах",
        "Справка из школы",
    ]
    assert body["prefill_consent"] is False


def upload_for(client, consultation, document, name="справка.pdf"):
    return client.post(
        f"{base(consultation)}/attachments",
        {"file": upload(name), "document": str(document.pk)},
    )


def test_answer_moves_back_to_drafting(api_client, demo, requested):
    client = api_client.login("citizen")
    for document in documents_of(requested).values():
        uploaded = upload_for(client, requested, document)
        assert uploaded.status_code == 201, uploaded.content

    response = client.post(
        f"{base(requested)}/data-request/answer",
        {"values": {"snils": SNILS, "phone": ""}, "comment": "Всё приложила"},
    )

    assert response.status_code == 200, response.content
    assert refreshed(requested).status == Status.DRAFTING
    assert response.json()["request"]["answered_at"] is not None
    assert {d.status for d in documents_of(requested).values()} == {"received"}
    read = personal_data.read_collected_data(demo["operator"], requested.pk, via="api")
    assert read["values"] == {"snils": SNILS_NORMAL}
    assert requested.transitions.last().details["fields"] == ["snils"]


def test_answer_keeps_other_values(api_client, demo, requested):
    personal_data.set_collected_data(
        demo["citizen"], requested.pk, {"email": "anna@example.ru"}
    )
    client = api_client.login("citizen")
    for document in documents_of(requested).values():
        upload_for(client, requested, document)

    client.post(f"{base(requested)}/data-request/answer", {"values": {"snils": SNILS}})

    read = personal_data.read_collected_data(demo["operator"], requested.pk, via="api")
    assert read["values"] == {"email": "anna@example.ru", "snils": SNILS_NORMAL}


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({}, "snils"),
        ({"snils": "274-615-803 88"}, "snils"),
        ({"snils": SNILS, "phone": "12345"}, "phone"),
        ({"snils": SNILS, "email": "anna@example.ru"}, "email"),
    ],
)
def test_invalid_answer_names_field(api_client, requested, values, field):
    client = api_client.login("citizen")
    for document in documents_of(requested).values():
        upload_for(client, requested, document)
    entries = JournalEntry.objects.count()

    response = client.post(f"{base(requested)}/data-request/answer", {"values": values})

    assert response.status_code == 422, response.content
    assert response.json()["field"] == field
    assert refreshed(requested).status == Status.DATA_REQUESTED
    assert not CollectedData.objects.filter(consultation=requested).exists()
    assert JournalEntry.objects.count() == entries


@pytest.mark.parametrize(
    ("birth_date", "reason"),
    [("0001-01-01", "before 1900"), ("01.01.2999", "in the future")],
)
def test_implausible_birth_date_rejected(api_client, demo, birth_date, reason):
    consultation = act(
        demo["operator2"],
        open_consultation(demo["citizen2"], service_code="PAS"),
        "take",
    )
    data_requests.request_data(
        demo["operator2"],
        consultation.pk,
        fields=["passport", "birth_date"],
        comment="Паспорт и дата рождения",
    )
    client = api_client.login("citizen2")
    client.headers["HTTP_ACCEPT_LANGUAGE"] = "en"

    response = client.post(
        f"{base(consultation)}/data-request/answer",
        {"values": {"passport": "45 19 731946", "birth_date": birth_date}},
    )

    body = response.json()
    assert response.status_code == 422, body
    assert body["field"] == "birth_date"
    assert reason in body["message"]
    assert refreshed(consultation).status == Status.DATA_REQUESTED
    assert not CollectedData.objects.filter(consultation=consultation).exists()


def test_answer_with_many_unknown_values_rejected(api_client, requested):
    values = {f"field{i}": "1" for i in range(20_000)}

    response = api_client.login("citizen").post(
        f"{base(requested)}/data-request/answer", {"values": {"snils": SNILS, **values}}
    )

    assert response.status_code == 422, response.content[:300]
    assert response.json()["field"] == "values"
    assert len(response.content) < 2000
    assert refreshed(requested).status == Status.DATA_REQUESTED
    assert not CollectedData.objects.filter(consultation=requested).exists()


def test_answer_without_document_names_it(api_client, requested):
    school = documents_of(requested)["Справка из школы"]
    client = api_client.login("citizen")
    upload_for(client, requested, documents_of(requested)["Справка о доходах"])

    response = client.post(
        f"{base(requested)}/data-request/answer", {"values": {"snils": SNILS}}
    )

    assert response.status_code == 422
    assert response.json()["field"] == f"documents.{school.pk}"
    assert [e["field"] for e in response.json()["errors"]] == [f"documents.{school.pk}"]
    assert refreshed(requested).status == Status.DATA_REQUESTED


def test_answer_on_stale_version_conflicts(api_client, requested):
    client = api_client.login("citizen")
    for document in documents_of(requested).values():
        upload_for(client, requested, document)

    response = client.post(
        f"{base(requested)}/data-request/answer",
        {"values": {"snils": SNILS}, "base_version": requested.version},
    )

    assert response.status_code == 409
    assert response.json()["field"] == "base_version"
    assert refreshed(requested).status == Status.DATA_REQUESTED


def test_answer_when_nothing_requested_conflicts(api_client, social):
    response = api_client.login("citizen").post(
        f"{base(social)}/data-request/answer", {"values": {"snils": SNILS}}
    )

    assert response.status_code == 409
    assert response.json()["error"] == "action_not_allowed"


def test_plain_transitions_still_work(demo, social):
    act(demo["operator"], social, "request_data", "Уточните вопрос")
    request = DataRequest.objects.get(consultation=social)
    consultation = act(demo["citizen"], social, "provide_data", "Уточнила")

    request.refresh_from_db()
    assert request.fields == []
    assert request.comment == "Уточните вопрос"
    assert request.answered_at is not None
    assert consultation.status == Status.DRAFTING


# -- the checklist


def review(client, consultation, document, **body):
    return client.put(f"{base(consultation)}/documents/{document.pk}", body)


def test_upload_marks_document_received(api_client, demo, requested):
    document = documents_of(requested)["Справка из школы"]

    response = upload_for(api_client.login("citizen"), requested, document)

    document.refresh_from_db()
    assert response.status_code == 201
    assert document.status == DocumentStatus.RECEIVED
    assert document.attachment_id == response.json()["id"]
    entry = JournalEntry.objects.filter(object_type="requested_document").last()
    assert entry.after["status"] == "received"
    assert entry.actor_id == demo["citizen"].pk


def test_upload_after_withdrawal_conflicts(api_client, demo, requested):
    document = documents_of(requested)["Справка из школы"]
    act(demo["citizen"], requested, "withdraw", "Вопрос решён")

    response = upload_for(api_client.login("citizen"), requested, document)

    assert response.status_code == 409, response.content
    assert response.json()["field"] == "status"
    document.refresh_from_db()
    assert document.status == DocumentStatus.REQUESTED
    assert document.attachment_id is None
    assert not requested.attachments.exists()


def test_operator_accepts_and_rejects(api_client, requested):
    income = documents_of(requested)["Справка о доходах"]
    school = documents_of(requested)["Справка из школы"]
    citizen = api_client.login("citizen")
    upload_for(citizen, requested, income)
    upload_for(citizen, requested, school)
    operator = api_client.login("operator")

    accepted = review(operator, requested, income, status="accepted")
    rejected = review(
        operator, requested, school, status="rejected", reason="Нет печати"
    )

    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["status"] == "accepted"
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["reason"] == "Нет печати"
    [entry] = with_payloads(
        [JournalEntry.objects.filter(object_type="requested_document").last()]
    )
    assert entry.before == {"status": "received"}
    assert entry.after["reason"] == "Нет печати"


def test_rejected_document_received_again(api_client, requested):
    school = documents_of(requested)["Справка из школы"]
    upload_for(api_client.login("citizen"), requested, school)
    review(
        api_client.login("operator"),
        requested,
        school,
        status="rejected",
        reason="Нет печати",
    )

    response = upload_for(api_client.login("citizen"), requested, school)

    school.refresh_from_db()
    assert response.status_code == 201
    assert school.status == DocumentStatus.RECEIVED
    assert school.reason == ""


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"status": "rejected"}, 422, "reason"),
        ({"status": "rejected", "reason": "   "}, 422, "reason"),
        ({"status": "lost"}, 422, "status"),
        ({"status": "accepted", "base_version": 1}, 409, "base_version"),
    ],
)
def test_invalid_review_names_field(api_client, requested, body, status, field):
    school = documents_of(requested)["Справка из школы"]
    upload_for(api_client.login("citizen"), requested, school)

    response = review(api_client.login("operator"), requested, school, **body)

    school.refresh_from_db()
    assert response.status_code == status, response.content
    assert response.json()["field"] == field
    assert school.status == DocumentStatus.RECEIVED


def test_review_without_file_conflicts(api_client, requested):
    school = documents_of(requested)["Справка из школы"]

    response = review(
        api_client.login("operator"), requested, school, status="accepted"
    )

    assert response.status_code == 409
    assert response.json()["field"] == "status"


def test_citizen_cannot_review(api_client, requested):
    school = documents_of(requested)["Справка из школы"]
    upload_for(api_client.login("citizen"), requested, school)

    response = review(api_client.login("citizen"), requested, school, status="accepted")

    assert response.status_code == 403


def test_unknown_document_not_found(api_client, requested, demo):
    other = open_consultation(demo["citizen"], service_code="SOC")
    act(demo["operator"], other, "take")
    foreign = data_requests.request_data(
        demo["operator"], other.pk, documents=["Справка"], comment="Справка"
    )
    document = RequestedDocument.objects.get(consultation=foreign)

    response = upload_for(api_client.login("citizen"), requested, document)

    assert response.status_code == 404
    assert response.json()["field"] == "document"


def test_upload_to_accepted_document_conflicts(api_client, requested):
    school = documents_of(requested)["Справка из школы"]
    upload_for(api_client.login("citizen"), requested, school)
    review(api_client.login("operator"), requested, school, status="accepted")

    response = upload_for(api_client.login("citizen"), requested, school)

    assert response.status_code == 409
    assert response.json()["field"] == "document"


# -- prefill and consent


@pytest.fixture
def earlier_data(demo, master_key_file):
    """The citizen's phone among their identifiers and SNILS in an older case."""
    identifiers.set_identifiers(demo["citizen"], {"phone": "+7 916 482-07-35"})
    older = open_consultation(demo["citizen"], service_code="SOC")
    personal_data.set_collected_data(demo["citizen"], older.pk, {"snils": SNILS})
    return older


def prefilled(client, consultation) -> dict:
    body = client.get(f"{base(consultation)}/data-request").json()
    return {f["name"]: (f["value"], f["source"]) for f in body["request"]["fields"]}


def test_no_prefill_without_consent(api_client, earlier_data, requested):
    fields = prefilled(api_client.login("citizen"), requested)

    assert fields == {"snils": (None, None), "phone": (None, None)}


def test_prefill_with_consent_is_marked(api_client, earlier_data, requested):
    client = api_client.login("citizen")
    client.put("/api/v1/me/prefill-consent", {"enabled": True})

    fields = prefilled(client, requested)

    assert fields == {
        "snils": (SNILS_NORMAL, "earlier"),
        "phone": ("+79164820735", "earlier"),
    }
    reads = JournalEntry.objects.filter(
        action=JournalAction.PERSONAL_DATA_READ, after__via="prefill"
    )
    assert {e.object_type for e in reads} == {
        "consultation_data",
        "citizen_identifiers",
    }


def test_own_values_shown_without_consent(api_client, demo, requested):
    personal_data.set_collected_data(demo["citizen"], requested.pk, {"snils": SNILS})

    fields = prefilled(api_client.login("citizen"), requested)

    assert fields["snils"] == (SNILS_NORMAL, "consultation")


def test_staff_get_no_prefill(api_client, earlier_data, requested):
    api_client.login("citizen").put("/api/v1/me/prefill-consent", {"enabled": True})

    fields = prefilled(api_client.login("operator"), requested)

    assert fields == {"snils": (None, None), "phone": (None, None)}


def test_consent_default_off_and_switchable(api_client, demo, db):
    client = api_client.login("citizen")

    first = client.get("/api/v1/me/prefill-consent")
    switched = client.put("/api/v1/me/prefill-consent", {"enabled": True})
    off = client.put("/api/v1/me/prefill-consent", {"enabled": False})

    assert first.json() == {"enabled": False}
    assert switched.json() == {"enabled": True}
    assert off.json() == {"enabled": False}
    entry = JournalEntry.objects.filter(object_type="prefill_consent").last()
    assert entry.before == {"enabled": True}
    assert entry.after == {"enabled": False}


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [({"enabled": "yes"}, 422, "enabled"), ({}, 422, "enabled")],
)
def test_invalid_consent_names_field(api_client, demo, body, status, field):
    response = api_client.login("citizen").put("/api/v1/me/prefill-consent", body)

    assert response.status_code == status
    assert response.json()["field"] == field


def test_staff_cannot_set_consent(api_client, demo):
    response = api_client.login("operator").put(
        "/api/v1/me/prefill-consent", {"enabled": True}
    )

    assert response.status_code == 403
    assert response.json()["field"] == "enabled"


def test_staff_cannot_read_consent(api_client, demo):
    response = api_client.login("operator").get("/api/v1/me/prefill-consent")

    assert response.status_code == 403
    assert response.json()["field"] == "enabled"


# -- after forwarding


def test_citizen_reaches_new_department(api_client, demo, requested):
    moved = services.forward(
        demo["operator"], requested.pk, department_code="B", reason="Не наш вопрос"
    )
    school = documents_of(moved)["Справка из школы"]
    citizen = api_client.login("citizen")

    message = citizen.post(f"{base(moved)}/messages", {"text": "Справку донесу"})
    uploaded = upload_for(citizen, moved, school)
    new_department = api_client.login("operator2").get(base(moved)).json()
    old_department = api_client.login("operator").get(base(moved))

    assert message.status_code == 201, message.content
    assert uploaded.status_code == 201, uploaded.content
    assert "Справку донесу" in [m["text"] for m in new_department["messages"]]
    assert uploaded.json()["id"] in [a["id"] for a in new_department["attachments"]]
    assert old_department.status_code == 404
    accepted = review(api_client.login("operator2"), moved, school, status="accepted")
    assert accepted.status_code == 200, accepted.content


def test_citizen_adds_files_after_answer(api_client, demo, requested):
    client = api_client.login("citizen")
    for document in documents_of(requested).values():
        upload_for(client, requested, document)
    client.post(f"{base(requested)}/data-request/answer", {"values": {"snils": SNILS}})
    moved = services.forward(
        demo["operator"], requested.pk, department_code="B", reason="Не наш вопрос"
    )

    late = client.post(f"{base(moved)}/attachments", {"file": upload("ещё.pdf")})
    note = client.post(f"{base(moved)}/messages", {"text": "Добавила ещё справку"})

    assert late.status_code == 201
    assert note.status_code == 201
    detail = api_client.login("operator2").get(base(moved)).json()
    assert "ещё.pdf" in [a["name"] for a in detail["attachments"]]


def test_file_document_named_in_reader_language(demo, requested):
    # The operator asked in Russian; an English reader gets the English label.
    with translation.override("en"):
        detail = data_requests.request_detail(demo["citizen"], requested)

    names = [item["name"] for item in detail["checklist"]]
    assert names == ["Income statement", "Справка из школы"]
    assert [item["name"] for item in detail["request"]["documents"]] == names


def test_answer_form_names_file_in_page_language(client, demo, requested):
    client.force_login(demo["citizen"])

    page = client.get(
        f"/consultations/{requested.pk}/", HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()

    assert "Income statement *" in page
    assert "Справка о доходах" not in page
