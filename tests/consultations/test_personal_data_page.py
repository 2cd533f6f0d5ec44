"""The personal-data section of the consultation page."""

import pytest

from protokol.consultations import personal_data
from protokol.consultations.models import CollectedData
from protokol.journal.models import JournalEntry
from protokol.personal import records

from .factories import open_consultation


@pytest.fixture
def social(demo, master_key_file):
    consultation = open_consultation(demo["citizen"], service_code="SOC")
    personal_data.set_collected_data(
        demo["citizen"], consultation.pk, {"snils": "274-615-803 89"}
    )
    return consultation


def page(consultation) -> str:
    return f"/consultations/{consultation.pk}/"


def reads() -> int:
    return JournalEntry.objects.filter(action=records.PERSONAL_DATA_READ).count()


def test_values_hidden_until_asked(client, demo, social):
    client.force_login(demo["operator"])

    hidden = client.get(page(social)).content.decode()
    assert reads() == 0
    shown = client.get(page(social) + "?show_data=1").content.decode()

    assert 'id="personal-data"' in hidden
    assert "27461580389" not in hidden
    assert "27461580389" in shown
    assert reads() == 1


def test_auditor_sees_no_section(client, demo, social):
    client.force_login(demo["auditor"])

    response = client.get(page(social) + "?show_data=1").content.decode()

    assert 'id="personal-data"' not in response
    assert "27461580389" not in response
    assert reads() == 0


def test_operator_changes_value(client, demo, social):
    client.force_login(demo["operator"])

    response = client.post(
        page(social) + "data/", {"snils": "112-233-445 95"}, follow=False
    )

    assert response.status_code == 302
    read = personal_data.read_collected_data(demo["operator"], social.pk, via="api")
    assert read["values"] == {"snils": "11223344595"}


def test_invalid_value_shown_at_field(client, demo, social):
    client.force_login(demo["operator"])
    before = bytes(CollectedData.objects.get().ciphertext)

    response = client.post(page(social) + "data/", {"snils": "112-233-445 96"})

    assert response.status_code == 422
    assert "field--error" in response.content.decode()
    assert bytes(CollectedData.objects.get().ciphertext) == before


def test_post_without_fields_keeps_values(client, demo, social):
    client.force_login(demo["operator"])
    before = bytes(CollectedData.objects.get().ciphertext)

    response = client.post(page(social) + "data/", {})

    assert response.status_code == 422
    assert "В запросе нет ни одного поля формы (" in response.content.decode()
    assert bytes(CollectedData.objects.get().ciphertext) == before


def test_supervisor_sees_values_without_form(client, demo, social):
    client.force_login(demo["supervisor"])

    response = client.get(page(social) + "?show_data=1").content.decode()

    assert "<dd>27461580389</dd>" in response
    assert 'id="personal-data-form"' not in response
    assert reads() == 1
