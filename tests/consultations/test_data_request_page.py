"""The data request section of the consultation page, without JavaScript."""

from collections import Counter
from html.parser import HTMLParser

import pytest

from protokol.accounts import identifiers
from protokol.consultations import data_requests, personal_data, prefill, services
from protokol.consultations.models import (
    DataRequest,
    DocumentStatus,
    RequestedDocument,
    Status,
)
from protokol.journal.models import JournalEntry

from .factories import act, open_consultation, upload

SNILS = "274-615-803 89"
SNILS_NORMAL = "27461580389"


@pytest.fixture
def social(demo, master_key_file):
    consultation = open_consultation(demo["citizen"], service_code="SOC")
    return act(demo["operator"], consultation, "take")


@pytest.fixture
def requested(demo, social):
    return data_requests.request_data(
        demo["operator"],
        social.pk,
        fields=["snils", "phone", "income_statement"],
        documents=["Справка из школы"],
        comment="Нужны СНИЛС и справки",
    )


def page(consultation) -> str:
    return f"/consultations/{consultation.pk}/"


def documents_of(consultation) -> dict[str, RequestedDocument]:
    return {
        d.name: d for d in RequestedDocument.objects.filter(consultation=consultation)
    }


def refreshed(consultation):
    consultation.refresh_from_db()
    return consultation


def test_operator_sees_service_fields(client, demo, social):
    client.force_login(demo["operator"])

    html = client.get(page(social)).content.decode()

    assert 'id="data-request-form"' in html
    assert 'name="fields" value="snils"' in html
    assert 'name="fields" value="email"' in html
    assert "Справка о доходах (файл)" in html


def test_operator_requests_from_page(client, demo, social):
    client.force_login(demo["operator"])

    response = client.post(
        f"{page(social)}data-request/",
        {
            "fields": ["snils", "income_statement"],
            "documents": "Справка из школы\n\n",
            "comment": "Нужны СНИЛС и справки",
            "base_version": social.version,
        },
    )

    assert response.status_code == 302
    assert refreshed(social).status == Status.DATA_REQUESTED
    request = DataRequest.objects.get(consultation=social)
    assert request.fields == ["snils"]
    assert list(documents_of(social)) == ["Справка о доходах", "Справка из школы"]


@pytest.mark.parametrize(
    ("post", "message"),
    [
        ({"fields": ["passport"], "comment": "Паспорт"}, "passport"),
        ({"fields": ["snils"], "comment": ""}, "Обязательное поле"),
    ],
)
def test_invalid_page_request_shows_error(client, demo, social, post, message):
    client.force_login(demo["operator"])

    response = client.post(f"{page(social)}data-request/", post)

    assert response.status_code == 422
    assert message in response.content.decode()
    assert refreshed(social).status == Status.DRAFTING
    assert not DataRequest.objects.exists()


def test_page_request_duplicate_document_rejected(client, demo, social):
    client.force_login(demo["operator"])

    response = client.post(
        f"{page(social)}data-request/",
        {
            "fields": ["snils"],
            "documents": "Справка из школы\nСправка из школы",
            "comment": "Нужны справки",
            "base_version": social.version,
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )

    html = response.content.decode()
    assert response.status_code == 422
    assert 'id="id_request_documents_error"' in html
    assert (
        "Other documents: document &#x27;Справка из школы&#x27; is already in the "
        "request; name each document once."
    ) in html
    assert refreshed(social).status == Status.DRAFTING
    assert not DataRequest.objects.exists()
    assert not RequestedDocument.objects.exists()


def test_page_request_stale_version_kept(client, demo, social):
    client.force_login(demo["operator"])

    response = client.post(
        f"{page(social)}data-request/",
        {"fields": ["snils"], "comment": "Нужен СНИЛС", "base_version": 1},
    )

    html = response.content.decode()
    assert response.status_code == 409
    assert "Нужен СНИЛС" in html
    assert not DataRequest.objects.exists()


def test_citizen_form_has_only_requested(client, demo, requested):
    client.force_login(demo["citizen"])
    school = documents_of(requested)["Справка из школы"]

    html = client.get(page(requested)).content.decode()

    assert 'id="data-answer"' in html
    assert 'name="snils"' in html
    assert 'name="phone"' in html
    assert 'name="email"' not in html
    assert f'name="documents.{school.pk}"' in html
    assert 'id="data-request-form"' not in html


def answer_post(consultation, **values) -> dict:
    post = {"comment": "Отправляю", **values}
    for document in documents_of(consultation).values():
        post[f"documents.{document.pk}"] = upload(f"{document.pk}.pdf")
    return post


def test_citizen_answers_from_page(client, demo, requested):
    client.force_login(demo["citizen"])

    response = client.post(
        f"{page(requested)}data-request/answer/",
        answer_post(requested, snils=SNILS, phone=""),
    )

    assert response.status_code == 302
    assert refreshed(requested).status == Status.DRAFTING
    assert {d.status for d in documents_of(requested).values()} == {"received"}
    read = personal_data.read_collected_data(demo["operator"], requested.pk, via="page")
    assert read["values"] == {"snils": SNILS_NORMAL}


def test_invalid_page_answer_names_field(client, demo, requested):
    client.force_login(demo["citizen"])

    response = client.post(
        f"{page(requested)}data-request/answer/",
        answer_post(requested, snils="274-615-803 88"),
    )

    html = response.content.decode()
    assert response.status_code == 422
    assert "field--error" in html
    assert "snils" in html
    assert refreshed(requested).status == Status.DATA_REQUESTED
    assert {d.status for d in documents_of(requested).values()} == {"requested"}


def test_page_answer_without_file_names_document(client, demo, requested):
    client.force_login(demo["citizen"])
    school = documents_of(requested)["Справка из школы"]
    post = answer_post(requested, snils=SNILS)
    del post[f"documents.{school.pk}"]

    response = client.post(f"{page(requested)}data-request/answer/", post)

    assert response.status_code == 422
    assert f"documents.{school.pk}" in response.content.decode()
    assert refreshed(requested).status == Status.DATA_REQUESTED


def test_page_answer_errors_name_labels(client, demo, requested):
    client.force_login(demo["citizen"])
    school = documents_of(requested)["Справка из школы"]
    post = answer_post(requested, snils="274-615-803 88")
    del post[f"documents.{school.pk}"]

    response = client.post(f"{page(requested)}data-request/answer/", post)

    html = response.content.decode()
    assert response.status_code == 422
    assert "Поле «СНИЛС»: контрольная сумма не совпадает; проверьте номер." in html
    assert "Нужен документ «Справка из школы»: загрузите файл." in html
    assert "Проверьте введённые данные" not in html
    assert "«snils»" not in html


def test_page_answer_errors_english_labels(client, demo, requested):
    client.force_login(demo["citizen"])

    response = client.post(
        f"{page(requested)}data-request/answer/",
        answer_post(requested, snils="274-615-803 88"),
        HTTP_ACCEPT_LANGUAGE="en",
    )

    html = response.content.decode()
    assert response.status_code == 422
    assert (
        "Insurance number (SNILS): the checksum does not match; check the number."
    ) in html
    assert "Check the input" not in html


@pytest.fixture
def earlier_data(demo, master_key_file):
    identifiers.set_identifiers(demo["citizen"], {"phone": "+7 916 482-07-35"})
    older = open_consultation(demo["citizen"], service_code="SOC")
    personal_data.set_collected_data(demo["citizen"], older.pk, {"snils": SNILS})


def test_no_prefill_without_consent(client, demo, earlier_data, requested):
    client.force_login(demo["citizen"])

    html = client.get(page(requested)).content.decode()

    assert "data-prefill" not in html
    assert SNILS_NORMAL not in html
    assert "«Мои данные»" in html


def test_prefill_marked_with_consent(client, demo, earlier_data, requested):
    client.force_login(demo["citizen"])
    switched = client.post("/my/identifiers/prefill/", {"enabled": "on"})

    html = client.get(page(requested)).content.decode()

    assert switched.status_code == 302
    assert 'data-prefill="earlier"' in html
    assert f'value="{SNILS_NORMAL}"' in html
    assert 'value="+79164820735"' in html
    assert "Из ваших прежних данных" in html


def test_identifiers_page_consent_off_by_default(client, demo, master_key_file):
    client.force_login(demo["citizen"])

    before = client.get("/my/identifiers/").content.decode()
    client.post("/my/identifiers/prefill/", {"enabled": "on"})
    after = client.get("/my/identifiers/").content.decode()
    client.post("/my/identifiers/prefill/", {})
    off = client.get("/my/identifiers/").content.decode()

    assert 'id="id_enabled" checked' not in before
    assert 'id="id_enabled" checked' in after
    assert 'id="id_enabled" checked' not in off


@pytest.mark.parametrize(
    ("value", "enabled"),
    [("on", True), ("true", True), ("1", True), ("off", False), ("0", False)],
)
def test_prefill_consent_checkbox_values(client, demo, value, enabled):
    client.force_login(demo["citizen"])

    response = client.post("/my/identifiers/prefill/", {"enabled": value})

    assert response.status_code == 302
    assert prefill.consent_enabled(demo["citizen"]) is enabled


@pytest.mark.parametrize("value", ["maybe", "yes", "2"])
def test_prefill_consent_rejects_non_boolean(client, demo, master_key_file, value):
    client.force_login(demo["citizen"])

    response = client.post("/my/identifiers/prefill/", {"enabled": value})

    page = response.content.decode()
    assert response.status_code == 422
    assert f"Поле «enabled»: значение «{value}» не распознано." in page
    assert 'id="id_enabled_error"' in page
    assert prefill.consent_enabled(demo["citizen"]) is False
    assert not JournalEntry.objects.filter(object_type="prefill_consent").exists()


@pytest.fixture
def answered(demo, requested):
    files = {d.pk: upload(f"{d.pk}.pdf") for d in documents_of(requested).values()}
    return data_requests.answer(
        demo["citizen"], requested.pk, values={"snils": SNILS}, files=files
    )


def test_operator_review_needs_reason(client, demo, answered):
    school = documents_of(answered)["Справка из школы"]
    client.force_login(demo["operator"])
    url = f"{page(answered)}documents/{school.pk}/"

    missing = client.post(url, {"status": "rejected", "reason": ""})
    rejected = client.post(url, {"status": "rejected", "reason": "Нет печати"})

    school.refresh_from_db()
    assert missing.status_code == 422
    assert "reason" in missing.content.decode()
    assert rejected.status_code == 302
    assert school.status == DocumentStatus.REJECTED
    assert school.reason == "Нет печати"


def test_citizen_resends_rejected_after_forward(client, demo, answered):
    school = documents_of(answered)["Справка из школы"]
    data_requests.review_document(
        demo["operator"], answered.pk, school.pk, status="rejected", reason="Нет печати"
    )
    services.forward(
        demo["operator"], answered.pk, department_code="B", reason="Не наш вопрос"
    )
    client.force_login(demo["citizen"])
    html = client.get(page(answered)).content.decode()

    response = client.post(
        f"{page(answered)}documents/{school.pk}/file/", {"file": upload("новая.pdf")}
    )

    school.refresh_from_db()
    assert f"documents/{school.pk}/file/" in html
    assert "Нет печати" in html
    assert response.status_code == 302
    assert school.status == DocumentStatus.RECEIVED
    client.force_login(demo["operator2"])
    staff_html = client.get(page(answered)).content.decode()
    assert "новая.pdf" in staff_html
    assert f"documents/{school.pk}/" in staff_html


def test_document_upload_without_file_explained(client, demo, answered):
    school = documents_of(answered)["Справка из школы"]
    data_requests.review_document(
        demo["operator"], answered.pk, school.pk, status="rejected", reason="Нет печати"
    )
    client.force_login(demo["citizen"])

    response = client.post(f"{page(answered)}documents/{school.pk}/file/", {})

    html = response.content.decode()
    school.refresh_from_db()
    assert response.status_code == 422
    assert "Файл не выбран: выберите файл и нажмите «Загрузить»." in html
    assert "формы multipart" not in html
    assert school.status == DocumentStatus.REJECTED


class PageIds(HTMLParser):
    """Collect the element ids of a page with their form actions, and label targets."""

    def __init__(self, html: str):
        super().__init__()
        self.form_of_id: dict[str, str | None] = {}
        self.ids: list[str] = []
        self.label_targets: dict[str, str] = {}
        self._form = None
        self._label_for = None
        self._label_text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self._form = attributes.get("action")
        if "id" in attributes:
            self.ids.append(attributes["id"])
            self.form_of_id.setdefault(attributes["id"], self._form)
        if tag == "label":
            self._label_for = attributes.get("for")
            self._label_text = []

    def handle_data(self, data):
        if self._label_for:
            self._label_text.append(data)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        if tag == "label" and self._label_for:
            text = "".join(self._label_text).strip()
            self.label_targets.setdefault(text, self._label_for)
            self._label_for = None

    def repeated_ids(self) -> list[str]:
        return [name for name, count in Counter(self.ids).items() if count > 1]


def test_operator_page_ids_unique(client, demo, answered):
    school = documents_of(answered)["Справка из школы"]
    data_requests.review_document(
        demo["operator"], answered.pk, school.pk, status="rejected", reason="Нет печати"
    )
    client.force_login(demo["operator"])

    ids = PageIds(client.get(f"{page(answered)}?show_data=1").content.decode())

    assert f"documents/{school.pk}/file/" in str(ids.form_of_id.values())
    assert "data-request-form" in ids.ids
    assert "personal-data-form" in ids.ids
    assert ids.repeated_ids() == []


def test_citizen_answer_page_ids_unique(client, demo, requested):
    client.force_login(demo["citizen"])

    ids = PageIds(client.get(f"{page(requested)}?show_data=1").content.decode())

    assert "data-answer" in ids.ids
    assert "personal-data-form" in ids.ids
    assert ids.repeated_ids() == []


def test_protocol_labels_name_protocol_fields(client, demo, social):
    client.force_login(demo["operator"])

    ids = PageIds(client.get(page(social)).content.decode())

    protocol_url = f"{page(social)}protocol/"
    assert ids.form_of_id[ids.label_targets["Документы"]] == protocol_url
    assert ids.form_of_id[ids.label_targets["Другие документы"]] == (
        f"{page(social)}data-request/"
    )
    assert ids.form_of_id[ids.label_targets["Комментарий"]] == (
        f"{page(social)}transitions/"
    )


def test_page_answer_shows_every_error_at_once(client, demo, requested):
    client.force_login(demo["citizen"])
    documents = documents_of(requested)
    income = documents["Справка о доходах"]
    school = documents["Справка из школы"]
    post = answer_post(
        requested, snils="274-615-803 88", phone="+7 " + "9" * 45, comment="a\x00b"
    )
    post[f"documents.{income.pk}"] = upload("пустая.pdf", content=b"")
    del post[f"documents.{school.pk}"]

    response = client.post(
        f"{page(requested)}data-request/answer/", post, HTTP_ACCEPT_LANGUAGE="en"
    )

    errors = response.context["data_answer_form"].errors
    assert response.status_code == 422
    assert errors["snils"] == [
        "Insurance number (SNILS): the checksum does not match; check the number."
    ]
    assert errors["phone"] == [
        "Phone: an international number has 8 to 15 digits and does not start with 0."
    ]
    assert errors[f"documents.{income.pk}"] == ["Income statement is empty."]
    assert errors[f"documents.{school.pk}"] == [
        "Справка из школы is required: upload the file."
    ]
    assert errors["comment"] == ["Comment contains control characters; remove them."]
    assert refreshed(requested).status == Status.DATA_REQUESTED
    assert {d.status for d in documents_of(requested).values()} == {"requested"}


def test_page_answer_wrong_file_type_names_document(client, demo, requested):
    client.force_login(demo["citizen"])
    school = documents_of(requested)["Справка из школы"]
    post = answer_post(requested, snils=SNILS)
    post[f"documents.{school.pk}"] = upload("school.pdf", content=b"\x89PNG\r\n\x1a\n")

    response = client.post(
        f"{page(requested)}data-request/answer/", post, HTTP_ACCEPT_LANGUAGE="en"
    )

    errors = response.context["data_answer_form"].errors
    assert response.status_code == 422
    assert errors[f"documents.{school.pk}"] == [
        "Справка из школы is declared as 'application/pdf' but its content is "
        "'image/png'; upload a file of an allowed type."
    ]
    assert refreshed(requested).status == Status.DATA_REQUESTED
