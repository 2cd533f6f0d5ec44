"""The consultation page: who may view it, and every form posted from it."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import translation

from protokol.consultations import services
from protokol.consultations.models import Attachment, Consultation, Message
from protokol.disputes import services as disputes
from protokol.journal.models import JournalEntry
from protokol.protocols.models import ProtocolVersion
from protokol.protocols.services import save_protocol
from protokol.web.templatetags.web_tags import addendum_label

PROTOCOL = {
    "question": "Какие документы нужны для пособия?",
    "documents": "Паспорт, свидетельство о рождении",
    "recommendations": "Подать заявление через МФЦ",
    "decision": "Консультация дана",
    "decision_reason": "Закон о пособиях",
}


def page_url(consultation) -> str:
    return f"/consultations/{consultation.pk}/"


def refreshed(consultation) -> Consultation:
    return Consultation.objects.get(pk=consultation.pk)


def drafted(consultation, operator):
    services.transition(operator, consultation.pk, action="take")
    save_protocol(operator, consultation.pk, **PROTOCOL)
    return consultation


@pytest.mark.parametrize(
    "username", ["citizen", "operator", "reviewer", "supervisor", "auditor", "admin"]
)
def test_page_renders_for_allowed_roles(login_as, consultation, username):
    response = login_as(username).get(page_url(consultation))

    assert response.status_code == 200
    page = response.content.decode()
    assert consultation.number in page
    assert "Общая консультация" in page
    assert "Отдел консультаций по социальным вопросам" in page
    assert "Какие документы нужны для оформления пособия?" in page


@pytest.mark.parametrize("username", ["citizen2", "operator2"])
def test_page_is_404_for_others(login_as, consultation, username):
    response = login_as(username).get(page_url(consultation))

    assert response.status_code == 404
    assert consultation.number not in response.content.decode()


def test_page_is_404_for_missing_id(login_as, consultation):
    assert login_as("citizen").get("/consultations/999999/").status_code == 404


def test_page_journals_the_read(login_as, demo, consultation):
    login_as("operator").get(page_url(consultation))

    entry = JournalEntry.objects.filter(action="consultation:read").last()
    assert entry.actor_id == demo["operator"].pk
    assert entry.after == {"via": "page"}


def test_page_links_pdf_copy(login_as, consultation):
    page = login_as("citizen").get(page_url(consultation)).content.decode()

    assert f"/consultations/{consultation.pk}/protocol.pdf?lang=ru" in page
    assert f"/consultations/{consultation.pk}/protocol.pdf?lang=en" in page


@pytest.mark.parametrize(
    ("username", "query", "status", "message"),
    [
        (
            "citizen",
            "lang=de",
            422,
            "Копия протокола есть только на русском и английском языках",
        ),
        ("citizen", "personal_data=all", 422, "Такого вида копии нет"),
        (
            "auditor",
            "personal_data=full",
            403,
            "Ваша роль не позволяет видеть персональные данные в копии полностью",
        ),
    ],
)
def test_pdf_copy_bad_link_is_explained(
    login_as, consultation, username, query, status, message
):
    url = f"/consultations/{consultation.pk}/protocol.pdf?{query}"

    response = login_as(username).get(url)

    page = response.content.decode()
    assert response.status_code == status
    assert message in page
    # The service's wording names the query parameters and their values.
    assert "«lang»" not in page
    assert "«masked»" not in page
    assert "personal_data=masked" not in page


def test_pdf_copy_is_404_for_other_citizen(login_as, consultation):
    url = f"/consultations/{consultation.pk}/protocol.pdf"

    assert login_as("citizen2").get(url).status_code == 404


def test_overdue_deadline_highlighted(login_as, consultation):
    Consultation.objects.filter(pk=consultation.pk).update(
        deadline=consultation.created_at.replace(year=2000)
    )

    page = login_as("operator").get(page_url(consultation)).content.decode()

    assert "badge--overdue" in page
    assert "просрочена" in page


def test_citizen_posts_public_message(login_as, consultation):
    client = login_as("citizen")

    response = client.post(
        page_url(consultation) + "messages/", {"text": "Добавляю сведения"}
    )

    assert response.status_code == 302
    assert response["Location"] == page_url(consultation) + "#dialogue"
    message = Message.objects.get(consultation=consultation)
    assert message.visibility == "public"
    assert message.author_role == "citizen"
    page = client.get(page_url(consultation)).content.decode()
    assert "Добавляю сведения" in page
    assert "Сообщение добавлено" in page


def test_citizen_form_has_no_visibility_choice(login_as, consultation):
    page = login_as("citizen").get(page_url(consultation)).content.decode()

    assert 'name="text"' in page
    assert 'name="visibility"' not in page


def test_internal_note_visible_to_staff_only(client, demo, consultation):
    client.force_login(demo["operator"])
    client.post(
        page_url(consultation) + "messages/",
        {"text": "Проверить стаж", "visibility": "internal"},
    )
    staff_page = client.get(page_url(consultation)).content.decode()
    client.force_login(demo["citizen"])
    citizen_page = client.get(page_url(consultation)).content.decode()

    assert "Проверить стаж" in staff_page
    assert "message--internal" in staff_page
    assert "гражданин её не видит" in staff_page
    assert "Проверить стаж" not in citizen_page


def test_empty_message_is_422(login_as, consultation):
    response = login_as("citizen").post(
        page_url(consultation) + "messages/", {"text": "   "}
    )

    assert response.status_code == 422
    assert 'id="id_text_error"' in response.content.decode()
    assert 'href="#reply"' in response.content.decode()
    assert not Message.objects.exists()


def test_message_to_hidden_consultation_is_404(login_as, consultation):
    response = login_as("citizen2").post(
        page_url(consultation) + "messages/", {"text": "Чужое"}
    )

    assert response.status_code == 404
    assert not Message.objects.exists()


def test_upload_and_download_attachment(client, demo, consultation):
    client.force_login(demo["citizen"])
    upload = SimpleUploadedFile("справка.txt", b"hello", content_type="text/plain")

    response = client.post(page_url(consultation) + "attachments/", {"file": upload})

    assert response.status_code == 302
    attachment = Attachment.objects.get(consultation=consultation)
    assert attachment.original_name == "справка.txt"
    page = client.get(page_url(consultation)).content.decode()
    download_url = f"{page_url(consultation)}attachments/{attachment.pk}/"
    assert download_url in page

    download = client.get(download_url)
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"hello"
    assert download["Content-Disposition"].startswith("attachment;")
    assert download["X-Content-Type-Options"] == "nosniff"

    client.force_login(demo["citizen2"])
    assert client.get(download_url).status_code == 404


def test_upload_disallowed_type_is_415(login_as, consultation):
    upload = SimpleUploadedFile("page.html", b"<script>", content_type="text/html")

    response = login_as("citizen").post(
        page_url(consultation) + "attachments/", {"file": upload}
    )

    page = response.content.decode()
    assert response.status_code == 415
    assert "Этот тип файла не принимается" in page
    assert 'id="id_file_error"' in page
    assert not Attachment.objects.exists()


def test_upload_too_large_is_413(login_as, consultation, settings, monkeypatch):
    monkeypatch.setattr(settings.CONFIG, "max_upload_bytes", 4)
    upload = SimpleUploadedFile("big.txt", b"12345", content_type="text/plain")

    response = login_as("citizen").post(
        page_url(consultation) + "attachments/", {"file": upload}
    )

    assert response.status_code == 413
    assert "Файл слишком большой" in response.content.decode()
    assert not Attachment.objects.exists()


def test_upload_without_file_is_422(login_as, consultation):
    response = login_as("citizen").post(page_url(consultation) + "attachments/", {})

    page = response.content.decode()
    assert response.status_code == 422
    assert "Файл не выбран: выберите файл и нажмите «Загрузить»." in page
    assert "формы multipart" not in page
    assert not Attachment.objects.exists()


def test_operator_takes_consultation(login_as, demo, consultation):
    response = login_as("operator").post(
        page_url(consultation) + "transitions/", {"action": "take"}
    )

    assert response.status_code == 302
    assert refreshed(consultation).status == "drafting"
    assert refreshed(consultation).assignee == demo["operator"]


def test_action_buttons_match_allowed_actions(login_as, consultation):
    operator_page = login_as("operator").get(page_url(consultation)).content.decode()

    assert 'name="action" value="take"' in operator_page
    assert 'name="action" value="request_data"' in operator_page
    assert 'name="action" value="approve"' not in operator_page


def test_request_data_without_comment_is_422(login_as, consultation):
    response = login_as("operator").post(
        page_url(consultation) + "transitions/",
        {"action": "request_data", "comment": ""},
    )

    assert response.status_code == 422
    assert "нужен комментарий" in response.content.decode()
    assert refreshed(consultation).status == "initiated"


def test_request_data_with_comment_shows_in_timeline(login_as, consultation):
    client = login_as("operator")

    client.post(
        page_url(consultation) + "transitions/",
        {"action": "request_data", "comment": "Нужен СНИЛС"},
    )

    page = client.get(page_url(consultation)).content.decode()
    assert refreshed(consultation).status == "data_requested"
    assert "Нужен СНИЛС" in page
    assert "timeline__item--data_requested" in page


def test_action_in_wrong_status_is_409(login_as, consultation):
    response = login_as("operator").post(
        page_url(consultation) + "transitions/", {"action": "submit"}
    )

    page = response.content.decode()
    assert response.status_code == 409
    assert "Действие невозможно в текущем статусе" in page
    assert (
        "Действие «Отправить на согласование» недопустимо в статусе "
        "«зарегистрирована»; допустимые действия: Запросить данные, Взять в работу."
    ) in page
    assert "«submit»" not in page
    assert "«initiated»" not in page
    assert refreshed(consultation).status == "initiated"


def test_action_in_wrong_status_english(login_as, consultation):
    response = login_as("operator").post(
        page_url(consultation) + "transitions/",
        {"action": "submit"},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    page = response.content.decode()
    assert response.status_code == 409
    assert (
        "Action &#x27;Submit for review&#x27; is not allowed in status "
        "&#x27;registered&#x27;; allowed: Request data, Take on."
    ) in page
    assert "&#x27;submit&#x27;" not in page


def test_action_of_other_role_is_403(login_as, consultation):
    response = login_as("citizen").post(
        page_url(consultation) + "transitions/", {"action": "take"}
    )

    page = response.content.decode()
    assert response.status_code == 403
    assert "Недостаточно прав" in page
    assert (
        "Роли «гражданин» не разрешено действие «Взять в работу» с этой консультацией."
    ) in page
    assert "«take»" not in page


def test_operator_saves_protocol_draft(login_as, demo, consultation):
    services.transition(demo["operator"], consultation.pk, action="take")
    client = login_as("operator")

    response = client.post(page_url(consultation) + "protocol/", PROTOCOL)

    assert response.status_code == 302
    version = ProtocolVersion.objects.get(consultation=consultation)
    assert version.version == 1
    assert version.decision == "Консультация дана"
    page = client.get(page_url(consultation)).content.decode()
    assert "Изменить черновик" in page
    assert "Закон о пособиях</textarea>" in page


def test_protocol_form_prefilled_with_question(login_as, consultation):
    response = login_as("operator").get(page_url(consultation))

    form = response.context["protocol_form"]
    assert form.initial["question"] == consultation.description


def test_protocol_missing_field_is_422(login_as, demo, consultation):
    services.transition(demo["operator"], consultation.pk, action="take")

    response = login_as("operator").post(
        page_url(consultation) + "protocol/", {**PROTOCOL, "decision": ""}
    )

    assert response.status_code == 422
    assert 'id="id_decision_error"' in response.content.decode()
    assert not ProtocolVersion.objects.exists()


def test_protocol_form_hidden_from_citizen(login_as, consultation):
    client = login_as("citizen")

    page = client.get(page_url(consultation)).content.decode()
    response = client.post(page_url(consultation) + "protocol/", PROTOCOL)

    assert 'id="protocol-form"' not in page
    assert response.status_code == 403
    assert not ProtocolVersion.objects.exists()


def test_protocol_in_review_is_409(login_as, demo, consultation):
    drafted(consultation, demo["operator"])
    services.transition(demo["operator"], consultation.pk, action="submit")

    response = login_as("operator").post(page_url(consultation) + "protocol/", PROTOCOL)

    assert response.status_code == 409
    assert ProtocolVersion.objects.count() == 1


def test_forward_moves_to_other_department(login_as, consultation):
    client = login_as("operator")

    response = client.post(
        page_url(consultation) + "forward/",
        {"department": "B", "reason": "Вопрос о паспорте"},
    )

    assert response.status_code == 302
    # The operator of department A no longer sees it, so the form goes home.
    assert response["Location"] == "/"
    assert refreshed(consultation).department.code == "B"


def test_forward_shows_in_timeline_for_supervisor(login_as, consultation):
    client = login_as("supervisor")

    client.post(
        page_url(consultation) + "forward/",
        {"department": "B", "reason": "Вопрос о паспорте"},
    )

    page = client.get(page_url(consultation)).content.decode()
    assert "Переадресована в другой отдел" in page
    assert "Отдел A → отдел B" in page
    assert "Вопрос о паспорте" in page


def test_forward_without_department_is_422(login_as, consultation):
    response = login_as("operator").post(
        page_url(consultation) + "forward/", {"department": "", "reason": "Причина"}
    )

    assert response.status_code == 422
    assert refreshed(consultation).department.code == "A"


def test_forward_form_hidden_from_reviewer(login_as, consultation):
    page = login_as("reviewer").get(page_url(consultation)).content.decode()

    assert 'id="forward-form"' not in page


def test_full_lifecycle_through_pages(client, demo, consultation):
    url = page_url(consultation)

    client.force_login(demo["operator"])
    client.post(url + "transitions/", {"action": "take"})
    client.post(url + "protocol/", PROTOCOL)
    client.post(url + "transitions/", {"action": "submit"})
    client.force_login(demo["reviewer"])
    client.post(url + "transitions/", {"action": "approve"})
    client.post(url + "transitions/", {"action": "sign"})
    client.force_login(demo["operator"])
    client.post(url + "transitions/", {"action": "archive"})
    client.force_login(demo["citizen"])
    page = client.get(url).content.decode()

    assert refreshed(consultation).status == "archived"
    assert '<span class="status status--archived">в архиве</span>' in page
    assert "Передана в архив" in page
    assert "Подписана" in page
    # Sealed: the dialogue and files are closed, the protocol is shown.
    assert 'id="reply"' not in page
    assert 'id="upload-form"' not in page
    assert "Консультация дана" in page
    assert 'name="action" value="dispute"' in page


def test_conclude_dispute_adds_addendum(client, demo, consultation):
    url = page_url(consultation)
    drafted(consultation, demo["operator"])
    services.transition(demo["operator"], consultation.pk, action="submit")
    services.transition(demo["reviewer"], consultation.pk, action="approve")
    services.transition(demo["reviewer"], consultation.pk, action="sign")
    client.force_login(demo["citizen"])
    client.post(url + "transitions/", {"action": "dispute", "comment": "Не согласна"})
    client.force_login(demo["supervisor"])

    response = client.post(
        url + "transitions/", {"action": "conclude", "comment": "Ответ верен"}
    )

    page = client.get(url).content.decode()
    assert response.status_code == 302
    assert refreshed(consultation).status == "archived"
    assert "Заключение по спору" in page
    assert "Ответ верен" in page


def test_protocol_versions_listed(login_as, demo, consultation):
    drafted(consultation, demo["operator"])
    save_protocol(demo["operator"], consultation.pk, **{**PROTOCOL, "decision": "v2"})

    page = login_as("citizen").get(page_url(consultation)).content.decode()

    assert "Версии протокола" in page
    assert "Версия 2" in page


def test_post_without_csrf_token_is_rejected(consultation, demo):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(demo["citizen"])

    response = strict.post(page_url(consultation) + "messages/", {"text": "Без"})

    assert response.status_code == 403
    assert not Message.objects.exists()


def test_expert_conclusion_addendum_labelled():
    with translation.override("ru"):
        label = addendum_label(disputes.ADDENDUM_KIND)

    assert label == "Заключение эксперта"
