"""The citizen's identifiers page."""

import pytest

from protokol.accounts.models import CitizenIdentifiers
from protokol.journal.models import JournalEntry
from protokol.personal import records

PAGE = "/my/identifiers/"


@pytest.fixture
def master_key_file(settings, tmp_path, monkeypatch):
    path = tmp_path / "master.key"
    path.write_bytes(bytes(range(32)))
    monkeypatch.setattr(settings.CONFIG, "master_key_file", path)
    return path


@pytest.fixture
def citizen_client(client, demo, master_key_file):
    client.force_login(demo["citizen"])
    return client


def test_save_then_show(citizen_client):
    saved = citizen_client.post(
        PAGE, {"phone": "8 916 482 07 35", "snils": "274-615-803 89"}
    )
    shown = citizen_client.get(PAGE)

    assert saved.status_code == 302
    assert 'value="+79164820735"' in shown.content.decode()
    assert 'value="27461580389"' in shown.content.decode()
    assert JournalEntry.objects.filter(
        action=records.PERSONAL_DATA_READ, after__via="page"
    ).exists()


def test_invalid_value_shown_at_field(citizen_client):
    response = citizen_client.post(
        PAGE, {"inn": "502731884665", "snils": "274-615-803 88"}
    )

    page = response.content.decode()
    assert response.status_code == 422
    assert page.count("field--error") == 2
    assert not CitizenIdentifiers.objects.exists()


FIELDS = ("phone", "passport", "inn", "snils", "postal_address")


def updates() -> int:
    return JournalEntry.objects.filter(action=records.PERSONAL_DATA_UPDATE).count()


@pytest.mark.parametrize("body", [{}, {"unrelated": "x"}])
def test_post_without_fields_deletes_nothing(citizen_client, body):
    citizen_client.post(PAGE, {"phone": "8 916 482 07 35"})
    stored = bytes(CitizenIdentifiers.objects.get().ciphertext)

    response = citizen_client.post(PAGE, body)

    page = response.content.decode()
    assert response.status_code == 422
    assert "В запросе нет ни одного поля формы (" in page
    assert "«Телефон»" in page
    assert "пустое поле удаляет значение" in page
    assert bytes(CitizenIdentifiers.objects.get().ciphertext) == stored
    assert updates() == 1


def test_empty_fields_delete_values(citizen_client):
    citizen_client.post(PAGE, {"phone": "8 916 482 07 35"})

    response = citizen_client.post(PAGE, dict.fromkeys(FIELDS, ""))

    assert response.status_code == 302
    assert not CitizenIdentifiers.objects.exists()
    assert updates() == 2


def test_page_shows_every_error_at_once(citizen_client):
    response = citizen_client.post(
        PAGE,
        {
            "phone": "+7 916\x00482",
            "snils": "274-615-803 88",
            "postal_address": "д" * 501,
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )

    errors = response.context["form"].errors
    assert response.status_code == 422
    assert errors["phone"] == [
        "Phone may contain only digits and separators; expected + and the country "
        "code, e.g. +7 912 345-67-89."
    ]
    assert errors["snils"] == [
        "Insurance number (SNILS): the checksum does not match; check the number."
    ]
    assert errors["postal_address"] == [
        "Postal address is 501 characters long; the maximum is 500."
    ]
    assert not CitizenIdentifiers.objects.exists()


def test_staff_redirected(client, demo, master_key_file):
    client.force_login(demo["operator"])

    response = client.get(PAGE)

    assert response.status_code == 302
    assert not JournalEntry.objects.filter(action=records.PERSONAL_DATA_READ).exists()


def test_nav_links_identifiers(citizen_client):
    response = citizen_client.get("/my/")

    assert PAGE in response.content.decode()
