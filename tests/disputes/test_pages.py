"""The dispute pages: the claims beside the record, forms and their errors."""

import pytest

from protokol.disputes import services
from protokol.disputes.models import Dispute, DisputeStatus
from protokol.disputes.templatetags.dispute_tags import signature_kind

from .conftest import CLAIMS


@pytest.fixture
def opened(demo, signed):
    return services.open_dispute(demo["citizen"], signed.pk, claims=CLAIMS)


def test_supervisor_page_offers_qualified_experts(client, demo, expert, opened):
    client.force_login(demo["supervisor"])

    page = client.get(f"/disputes/{opened.pk}/").content.decode()

    assert CLAIMS in page
    assert "Доводы гражданина" in page
    assert "Записи журнала" in page
    assert 'value="reviewer_b"' in page
    assert 'value="reviewer"' not in page


def test_form_labels_without_colon(client, demo, expert, opened):
    client.force_login(demo["supervisor"])

    page = client.get(f"/disputes/{opened.pk}/").content.decode()

    assert ">Эксперт</label>" in page
    assert ">Комментарий</label>" in page
    assert ":</label>" not in page


def test_assign_and_conclude_through_pages(client, demo, expert, opened):
    client.force_login(demo["supervisor"])
    response = client.post(f"/disputes/{opened.pk}/expert/", {"expert": "reviewer_b"})
    assert response.status_code == 302

    client.force_login(expert)
    page = client.get(f"/disputes/{opened.pk}/").content.decode()
    assert "Подписать заключение" in page
    response = client.post(
        f"/disputes/{opened.pk}/conclusion/", {"text": "Справка учтена."}
    )

    assert response.status_code == 302
    opened.refresh_from_db()
    assert opened.status == DisputeStatus.CONCLUDED
    page = client.get(f"/disputes/{opened.pk}/").content.decode()
    assert "Справка учтена." in page
    assert "подписанный протокол не изменён" in page


def test_page_names_signature_kinds(client, demo, expert, opened):
    services.assign_expert(demo["supervisor"], opened.pk, expert="reviewer_b")
    services.write_conclusion(expert, opened.pk, text="Справка учтена.")
    client.force_login(demo["supervisor"])

    page = client.get(f"/disputes/{opened.pk}/").content.decode()

    assert "· печать организации ·" in page
    assert "· seal ·" not in page
    assert "· signer ·" not in page


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("signer", "подпись специалиста"),
        ("seal", "печать организации"),
        ("acknowledgement", "подтверждение гражданина"),
    ],
)
def test_signature_kind_names(kind, name):
    assert str(signature_kind(kind)) == name


def test_wrong_expert_shown_on_form(client, demo, opened):
    client.force_login(demo["supervisor"])

    response = client.post(f"/disputes/{opened.pk}/expert/", {"expert": "reviewer"})

    assert response.status_code == 422
    assert "подписал или составил оспоренный протокол" in response.content.decode()


def test_close_before_conclusion_shown_on_form(client, demo, opened):
    client.force_login(demo["supervisor"])

    response = client.post(
        f"/disputes/{opened.pk}/close/", {"outcome": "conclude", "comment": "Итог"}
    )

    assert response.status_code == 409
    assert "сначала нужно подписанное заключение" in response.content.decode()


def test_other_citizen_gets_not_found_page(client, demo, opened):
    client.force_login(demo["citizen2"])

    assert client.get(f"/disputes/{opened.pk}/").status_code == 404


def test_citizen_list_shows_own_dispute(client, demo, opened):
    client.force_login(demo["citizen"])

    page = client.get("/disputes/").content.decode()

    assert opened.consultation.number in page


def test_consultation_page_links_dispute(client, demo, opened):
    client.force_login(demo["citizen"])

    page = client.get(f"/consultations/{opened.consultation_id}/").content.decode()

    assert f'href="/disputes/{opened.pk}/"' in page


def test_second_conclusion_error_shown(client, demo, expert, opened):
    services.assign_expert(demo["supervisor"], opened.pk, expert="reviewer_b")
    services.write_conclusion(expert, opened.pk, text="Справка учтена.")
    client.force_login(expert)

    # A second tab or a double click posts the form the page no longer shows.
    response = client.post(
        f"/disputes/{opened.pk}/conclusion/", {"text": "Справка учтена."}
    )

    assert response.status_code == 409
    assert "заключение сейчас не принимается" in response.content.decode()


def test_expert_change_after_conclusion_error_shown(client, demo, expert, opened):
    services.assign_expert(demo["supervisor"], opened.pk, expert="reviewer_b")
    services.write_conclusion(expert, opened.pk, text="Справка учтена.")
    client.force_login(demo["supervisor"])

    response = client.post(f"/disputes/{opened.pk}/expert/", {"expert": "reviewer_b"})

    assert response.status_code == 409
    assert "эксперта уже нельзя сменить" in response.content.decode()


def test_operator_close_error_shown(client, demo, opened):
    client.force_login(demo["operator"])

    response = client.post(
        f"/disputes/{opened.pk}/close/", {"outcome": "conclude", "comment": "Итог"}
    )

    assert response.status_code == 403
    assert "Споры рассматривает только руководитель" in response.content.decode()
    opened.refresh_from_db()
    assert opened.status == DisputeStatus.OPEN


def test_conclusion_by_non_expert_error_shown(client, demo, expert, opened):
    services.assign_expert(demo["supervisor"], opened.pk, expert="reviewer_b")
    client.force_login(demo["supervisor"])

    response = client.post(f"/disputes/{opened.pk}/conclusion/", {"text": "Итог"})

    assert response.status_code == 403
    assert "Заключение пишет только назначенный" in response.content.decode()
    opened.refresh_from_db()
    assert opened.status == DisputeStatus.ASSIGNED


@pytest.mark.parametrize("comment", ["\x00", "a\x00b", "a\x01b"])
def test_dispute_comment_control_characters_named(client, demo, signed, comment):
    client.force_login(demo["citizen"])

    response = client.post(
        f"/consultations/{signed.pk}/transitions/",
        {"action": "dispute", "comment": comment, "base_version": signed.version},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    errors = response.context["transition_form"].errors
    assert response.status_code == 422
    assert errors["comment"] == ["Comment contains control characters; remove them."]
    assert not Dispute.objects.exists()


@pytest.mark.parametrize("text", ["a\x00b", "a\x01b"])
def test_conclusion_control_characters_named(client, demo, expert, opened, text):
    services.assign_expert(demo["supervisor"], opened.pk, expert="reviewer_b")
    client.force_login(expert)

    response = client.post(
        f"/disputes/{opened.pk}/conclusion/", {"text": text}, HTTP_ACCEPT_LANGUAGE="en"
    )

    errors = response.context["conclusion_form"].errors
    assert response.status_code == 422
    assert errors["text"] == [
        "Expert conclusion contains control characters; remove them."
    ]
    opened.refresh_from_db()
    assert opened.status == DisputeStatus.ASSIGNED


@pytest.mark.parametrize("comment", ["a\x00b", "a\x01b"])
def test_close_comment_control_characters_named(client, demo, expert, opened, comment):
    services.assign_expert(demo["supervisor"], opened.pk, expert="reviewer_b")
    services.write_conclusion(expert, opened.pk, text="Справка учтена.")
    client.force_login(demo["supervisor"])

    response = client.post(
        f"/disputes/{opened.pk}/close/",
        {"outcome": "conclude", "comment": comment},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    errors = response.context["close_form"].errors
    assert response.status_code == 422
    assert errors["comment"] == ["Comment contains control characters; remove them."]
    opened.refresh_from_db()
    assert opened.status == DisputeStatus.CONCLUDED
