"""The page posts the version it showed; a stale post keeps the typed text."""

from django.test import Client

from consultations.factories import PROTOCOL, consultation_in
from protokol.consultations import services
from protokol.consultations.models import Consultation, Message, Status


def page_url(consultation) -> str:
    return f"/consultations/{consultation.pk}/"


def test_forms_carry_the_current_version(login_as, consultation):
    services.add_message(
        consultation.citizen, consultation.pk, text="Уточнение", visibility="public"
    )

    page = login_as("operator").get(page_url(consultation)).content.decode()

    # Reply, protocol, actions, forward and data request.
    assert page.count('name="base_version" value="2"') == 5
    assert 'type="hidden" name="base_version"' in page


def test_stale_reply_shows_conflict_and_keeps_text(demo, consultation):
    first, second = Client(), Client()
    first.force_login(demo["operator"])
    second.force_login(demo["supervisor"])

    ok = first.post(
        page_url(consultation) + "messages/",
        {"text": "Первый ответ", "visibility": "public", "base_version": "1"},
    )
    late = second.post(
        page_url(consultation) + "messages/",
        {"text": "Мой подробный ответ", "visibility": "public", "base_version": "1"},
    )

    assert ok.status_code == 302
    assert late.status_code == 409
    page = late.content.decode()
    assert "Пока вы работали, консультацию изменили (теперь версия 2)" in page
    assert "Мой подробный ответ</textarea>" in page
    assert "Первый ответ" in page
    assert 'name="base_version" value="2"' in page
    assert Message.objects.count() == 1
    assert Consultation.objects.get(pk=consultation.pk).version == 2


def test_stale_reply_goes_through_when_sent_again(demo, consultation):
    client = Client()
    client.force_login(demo["supervisor"])
    services.add_message(
        demo["operator"], consultation.pk, text="Первый", visibility="public"
    )
    form = {"text": "Второй", "visibility": "public", "base_version": "1"}

    assert client.post(page_url(consultation) + "messages/", form).status_code == 409
    form["base_version"] = "2"
    response = client.post(page_url(consultation) + "messages/", form)

    assert response.status_code == 302
    assert Message.objects.count() == 2


def test_invalid_base_version_is_422_and_shown(login_as, consultation):
    response = login_as("operator").post(
        page_url(consultation) + "messages/",
        {"text": "Мой ответ", "visibility": "public", "base_version": "abc"},
    )

    page = response.content.decode()
    assert response.status_code == 422
    assert 'class="form-error" role="alert"' in page
    assert "Мой ответ</textarea>" in page
    assert not Message.objects.exists()


def test_reply_after_signing_shows_error_and_text(login_as, demo):
    signed = consultation_in(demo, Status.SIGNED)

    response = login_as("citizen").post(
        page_url(signed) + "messages/",
        {"text": "Мой вопрос к ответу", "visibility": "public", "base_version": "1"},
    )

    page = response.content.decode()
    assert response.status_code == 409
    # The reply form is gone after signing, so the summary carries the error.
    assert 'id="reply"' not in page
    assert 'href="#reply"' not in page
    assert "Пока вы работали, консультацию изменили" in page
    assert "Мой вопрос к ответу" in page
    assert not Message.objects.filter(consultation=signed).exists()


def test_protocol_after_approval_shows_error(login_as, demo):
    approved = consultation_in(demo, Status.APPROVED)
    form = {**PROTOCOL, "question": "Новый вопрос", "base_version": approved.version}

    response = login_as("operator").post(page_url(approved) + "protocol/", form)

    page = response.content.decode()
    assert response.status_code == 409
    assert 'id="protocol-form"' not in page
    assert 'href="#protocol-form"' not in page
    assert 'class="error-summary" role="alert"' in page
    assert "Новый вопрос" in page
