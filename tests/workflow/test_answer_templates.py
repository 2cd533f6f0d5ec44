"""Answer templates: substitution, errors that name the variable, and access."""

import pytest

from api.client import login
from consultations.factories import consultation_in, open_consultation
from protokol.consultations.models import Status
from protokol.errors import ValidationFailed
from protokol.journal.models import JournalEntry
from protokol.workflow.answer_templates import DEMO_TEMPLATES, render, variables_in
from protokol.workflow.models import AnswerTemplate

VALUES = {"citizen_name": "Иван", "consultation_number": "КП-1"}


def test_render_substitutes_variables():
    text = render("{citizen_name}, обращение {consultation_number}", VALUES)

    assert text == "Иван, обращение КП-1"


def test_render_keeps_doubled_braces():
    assert render("{{скобки}} {citizen_name}", VALUES) == "{скобки} Иван"


def test_unknown_variable_is_named():
    with pytest.raises(ValidationFailed) as raised:
        render("Срок: {due_date}", VALUES)

    assert "{due_date}" in raised.value.message
    assert raised.value.field == "template"


@pytest.mark.parametrize("template", DEMO_TEMPLATES, ids=lambda t: t[0])
def test_demo_templates_bilingual_same_variables(template):
    _, _, body_ru, body_en = template

    assert body_en
    assert sorted(variables_in(body_ru)) == sorted(variables_in(body_en))


@pytest.mark.parametrize(
    "text",
    ["{citizen_name.__class__}", "{citizen_name[0]}", "{citizen_name!r}", "{0}"],
)
def test_attribute_index_and_format_are_rejected(text):
    with pytest.raises(ValidationFailed):
        variables_in(text)


def test_unbalanced_brace_is_rejected():
    with pytest.raises(ValidationFailed) as raised:
        variables_in("Здравствуйте, {citizen_name")

    assert "{{" in raised.value.message


def test_operator_gets_templates_filled_in(demo):
    consultation = consultation_in(demo, Status.DRAFTING)

    response = login("operator").get(f"/consultations/{consultation.pk}/templates")

    assert response.status_code == 200
    received = {row["code"]: row for row in response.json()}["received"]
    assert consultation.number in received["text"]
    assert demo["citizen"].display_name in received["text"]
    assert received["error"] is None


def test_english_text_when_written(demo):
    consultation = consultation_in(demo, Status.DRAFTING)

    response = login("operator").get(
        f"/consultations/{consultation.pk}/templates?lang=en"
    )

    texts = {row["code"]: row["text"] for row in response.json()}
    assert texts["received"].startswith("Hello, ")
    assert texts["documents"].startswith(demo["citizen"].display_name)


@pytest.mark.parametrize("language", ["de", "RU", ""])
def test_unknown_template_language_rejected(demo, language):
    consultation = consultation_in(demo, Status.DRAFTING)

    response = login("operator").get(
        f"/consultations/{consultation.pk}/templates", lang=language
    )

    assert response.status_code == 422, response.content
    assert response.json()["field"] == "lang"


def test_unassigned_consultation_names_its_department(demo):
    consultation = open_consultation(demo["citizen"])
    assert consultation.assignee_id is None

    response = login("operator").get(f"/consultations/{consultation.pk}/templates")

    documents = {row["code"]: row["text"] for row in response.json()}["documents"]
    assert documents.endswith(f"Исполнитель: {consultation.department.name}.")


def test_citizen_may_not_use_templates(demo):
    consultation = open_consultation(demo["citizen"])

    response = login("citizen").get(f"/consultations/{consultation.pk}/templates")

    assert response.status_code == 403


def test_supervisor_saves_a_template(demo):
    response = login("supervisor").put(
        "/templates/reminder",
        {"title": "Напоминание", "body_ru": "{citizen_name}, ждём документы."},
    )

    assert response.status_code == 200
    assert response.json()["variables"] == ["citizen_name"]
    assert JournalEntry.objects.filter(action="template:save").exists()


def test_unknown_variable_blocks_saving(demo):
    supervisor = login("supervisor")
    entries = JournalEntry.objects.count()

    response = supervisor.put(
        "/templates/bad", {"title": "Плохой", "body_ru": "Срок {due_date}"}
    )

    assert response.status_code == 422
    assert response.json()["field"] == "body_ru"
    assert "{due_date}" in response.json()["message"]
    assert not AnswerTemplate.objects.filter(code="bad").exists()
    assert JournalEntry.objects.count() == entries


def test_operator_may_not_save_templates(demo):
    response = login("operator").put(
        "/templates/reminder", {"title": "Напоминание", "body_ru": "Текст"}
    )

    assert response.status_code == 403


def test_unknown_service_code_is_named(demo):
    response = login("supervisor").put(
        "/templates/x", {"title": "X", "body_ru": "Текст", "service": "NOPE"}
    )

    assert response.status_code == 422
    assert response.json()["field"] == "service"


def test_page_inserts_the_chosen_template(client, demo):
    consultation = consultation_in(demo, Status.DRAFTING)
    client.force_login(demo["operator"])

    response = client.get(f"/consultations/{consultation.pk}/?template=received")

    html = response.content.decode()
    assert 'id="template-form"' in html
    assert f"обращение {consultation.number}" in html


def test_page_names_the_unknown_variable(client, demo):
    consultation = consultation_in(demo, Status.DRAFTING)
    AnswerTemplate.objects.filter(code="received").update(body_ru="До {due_date}")
    client.force_login(demo["operator"])

    response = client.get(f"/consultations/{consultation.pk}/?template=received")

    assert "{due_date}" in response.content.decode()
    assert 'role="alert"' in response.content.decode()


def test_page_template_code_with_nul_named(client, demo, english_pages):
    consultation = consultation_in(demo, Status.DRAFTING)
    client.force_login(demo["operator"])

    response = client.get(f"/consultations/{consultation.pk}/?template=a%00b")

    assert response.status_code == 200
    assert response.context["message_form"].non_field_errors() == [
        "template contains control characters; remove them."
    ]
