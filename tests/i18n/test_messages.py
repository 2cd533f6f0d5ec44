"""Service errors in the request's language: Russian by default, else English."""

import pytest
from django.conf import settings
from django.utils import translation

from api.client import ApiClient, login
from consultations.factories import PROTOCOL, consultation_in
from protokol.consultations import lifecycle, services
from protokol.consultations.models import Status
from protokol.disputes import services as disputes
from protokol.errors import ProtokolError, ValidationFailed
from protokol.protocols.services import save_protocol
from protokol.retention import services as retention
from protokol.validation import clean_text
from protokol.workflow import extensions

EMPTY_SUBJECT = {"service": "GEN", "subject": "   ", "description": "Вопрос"}


def test_api_empty_subject_russian_by_default(demo):
    response = login("citizen").post("/consultations", EMPTY_SUBJECT)

    assert response.status_code == 422
    assert response.json() == {
        "error": "validation_failed",
        "message": "Поле «subject» не должно быть пустым.",
        "field": "subject",
    }


def test_api_empty_subject_english_by_header(demo):
    client = login("citizen")
    client.headers["HTTP_ACCEPT_LANGUAGE"] = "en"

    response = client.post("/consultations", EMPTY_SUBJECT)

    assert response.status_code == 422
    assert response.json() == {
        "error": "validation_failed",
        "message": "subject must not be empty.",
        "field": "subject",
    }


def test_api_empty_subject_english_by_cookie(demo):
    client = login("citizen")
    client.client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    response = client.post("/consultations", EMPTY_SUBJECT)

    assert response.status_code == 422
    assert response.json()["message"] == "subject must not be empty."


def test_api_wrong_status_russian_lists_allowed(consultation):
    allowed = sorted(lifecycle.allowed_actions_for(consultation.status, "operator"))

    response = login("operator").post(
        f"/consultations/{consultation.pk}/transitions", {"action": "submit"}
    )

    body = response.json()
    assert response.status_code == 409
    assert body["error"] == "action_not_allowed"
    assert body["field"] == "action"
    assert body["allowed_actions"] == allowed == ["request_data", "take"]
    assert body["current_status"] == "initiated"
    assert body["message"] == (
        "Действие «Отправить на согласование» недопустимо в статусе "
        "«зарегистрирована»; допустимые действия: Запросить данные, "
        "Взять в работу."
    )


def test_api_wrong_status_english_by_header(consultation):
    client = login("operator")
    client.headers["HTTP_ACCEPT_LANGUAGE"] = "en"

    response = client.post(
        f"/consultations/{consultation.pk}/transitions", {"action": "submit"}
    )

    assert response.status_code == 409
    assert response.json()["message"] == (
        "Action 'Submit for review' is not allowed in status 'registered'; "
        "allowed: Request data, Take on."
    )


def test_api_missing_token_russian(db):
    response = ApiClient().get("/consultations")

    assert response.status_code == 401
    assert response.json()["message"].startswith("Требуется аутентификация")


def test_api_bad_password_russian(demo):
    response = ApiClient().post(
        "/auth/token", {"username": "citizen", "password": "wrong"}
    )

    assert response.status_code == 401
    assert response.json()["message"] == "Неверное имя пользователя или пароль."


def test_page_form_error_russian(client, demo):
    client.force_login(demo["citizen"])

    response = client.post(
        "/consultations/new/",
        {"service": "GEN", "subject": "Тема", "description": "bad \x01 text"},
    )

    page = response.content.decode()
    assert response.status_code == 422
    assert 'id="id_description_error"' in page
    assert "Поле «Описание вопроса» содержит управляющие символы; удалите их." in page
    assert "Проверьте введённые данные" not in page
    assert "control characters" not in page


def test_page_form_error_english_by_header(client, demo):
    client.force_login(demo["citizen"])

    response = client.post(
        "/consultations/new/",
        {"service": "GEN", "subject": "Тема", "description": "bad \x01 text"},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 422
    assert "Your question contains control characters; remove them." in (
        response.content.decode()
    )


def test_sealed_part_label_translated():
    with translation.override("ru"):
        message = translation.gettext(
            "The protocol is %(status)s: %(what)s can no longer change. "
            "Corrections are made as addenda when a supervisor concludes a dispute."
        ) % {"status": "signed", "what": translation.pgettext("sealed", "messages")}

    assert message.startswith(
        "Протокол в статусе «signed»: сообщения больше нельзя изменить."
    )


@pytest.mark.parametrize(
    ("change", "field", "russian"),
    [
        ({"subject": 5}, "subject", "строкой"),
        ({"priority": "high"}, "priority", "неизвестно"),
    ],
)
def test_schema_errors_in_russian(demo, change, field, russian):
    client = login("citizen")
    body = {"service": "GEN", "subject": "Вопрос", "description": "Текст", **change}

    response = client.post("/consultations", body)

    assert response.status_code == 422
    assert response.json()["field"] == field
    assert russian in response.json()["message"]


def raised_message(call) -> str:
    with pytest.raises(ProtokolError) as raised:
        call()
    return str(raised.value)


def test_denied_action_names_the_role(demo):
    consultation = consultation_in(demo, Status.INITIATED)

    message = raised_message(
        lambda: services.transition(demo["citizen"], consultation.pk, action="take")
    )

    assert "«гражданин»" in message
    assert "«Взять в работу»" in message
    assert "citizen" not in message
    assert "«take»" not in message


def test_stale_version_names_the_status(demo):
    consultation = consultation_in(demo, Status.DRAFTING)

    message = raised_message(
        lambda: services.transition(
            demo["operator"], consultation.pk, action="submit", base_version=1
        )
    )

    assert "«подготовка протокола»" in message
    assert "drafting" not in message


def test_dispute_state_named_in_conflict(demo):
    signed = consultation_in(demo, Status.SIGNED)
    dispute = disputes.open_dispute(demo["citizen"], signed.pk, claims="Неполно.")

    message = raised_message(
        lambda: disputes.close_dispute(
            demo["supervisor"], dispute.pk, outcome="conclude", comment="Итог."
        )
    )

    assert "«ожидает назначения эксперта»" in message
    assert "open" not in message


def _save_protocol(users, consultation):
    save_protocol(users["operator"], consultation.pk, **PROTOCOL)


def _forward(users, consultation):
    services.forward(
        users["operator"], consultation.pk, department_code="B", reason="Не наш."
    )


def _extend(users, consultation):
    extensions.extend_deadline(
        users["supervisor"], consultation.pk, days=5, reason="Нужна проверка."
    )


def _post_message(users, consultation):
    services.add_message(
        users["operator"], consultation.pk, text="Ещё.", visibility="public"
    )


@pytest.mark.parametrize(
    ("status", "write", "named"),
    [
        (Status.IN_REVIEW, _save_protocol, "«на согласовании»"),
        (Status.SIGNED, _forward, "«подписана»"),
        (Status.SIGNED, _extend, "«подписана»"),
        (Status.SIGNED, _post_message, "«подписана»"),
    ],
)
def test_status_conflict_names_the_status(demo, status, write, named):
    consultation = consultation_in(demo, status)

    message = raised_message(lambda: write(demo, consultation))

    assert named in message
    assert status not in message


def test_retention_denial_names_roles(demo):
    message = raised_message(
        lambda: retention.set_policy(
            demo["operator"], "GEN", years=5, end_action="destroy"
        )
    )

    assert "администратор" in message
    assert "admin" not in message


TEXT_FAILURES = [
    "   ",
    "a\x00b",
    "\ud800",
    "x" * 20_001,
    "Сумма \u202e00001\u202c руб.",
]


@pytest.mark.parametrize("value", TEXT_FAILURES)
def test_text_check_russian_names_field(value):
    with translation.override("ru"), pytest.raises(ValidationFailed) as raised:
        clean_text(value, field="decision")

    assert raised.value.message.startswith("Поле «decision» ")


@pytest.mark.parametrize("value", TEXT_FAILURES)
def test_text_check_english_names_field(value):
    with translation.override("en"), pytest.raises(ValidationFailed) as raised:
        clean_text(value, field="decision")

    assert raised.value.message.startswith("decision ")


def test_bidi_controls_message_russian():
    with translation.override("ru"), pytest.raises(ValidationFailed) as raised:
        clean_text("Сумма \u202e00001\u202c руб.", field="decision")

    assert raised.value.message == (
        "Поле «decision» содержит невидимые символы управления направлением "
        "текста (U+202A–U+202E, U+2066–U+2069); удалите их."
    )
