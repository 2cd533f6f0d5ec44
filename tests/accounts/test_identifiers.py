"""A citizen's identifiers: stored encrypted, read and changed through the API."""

import pytest

from protokol.accounts.models import CitizenIdentifiers, IdentifierIndex
from protokol.journal.models import JournalEntry
from protokol.personal import records

IDENTIFIERS = {
    "phone": "+7 (916) 482-07-35",
    "passport": "45 19 731946",
    "inn": "502731884666",
    "snils": "274-615-803 89",
    "postal_address": "191186, Санкт-Петербург, Невский пр., д. 1, кв. 2",
}
NORMALISED = {
    "phone": "+79164820735",
    "passport": "4519731946",
    "inn": "502731884666",
    "snils": "27461580389",
    "postal_address": IDENTIFIERS["postal_address"],
}
PATH = "/api/v1/me/identifiers"


@pytest.fixture
def master_key_file(settings, tmp_path, monkeypatch):
    path = tmp_path / "master.key"
    path.write_bytes(bytes(range(32)))
    monkeypatch.setattr(settings.CONFIG, "master_key_file", path)
    return path


@pytest.fixture
def citizen(api_client, demo, master_key_file):
    return api_client.login("citizen")


def test_put_then_get_returns_normal_forms(citizen):
    saved = citizen.put(PATH, IDENTIFIERS)
    read = citizen.get(PATH)

    assert saved.status_code == 200, saved.content
    assert saved.json() == {"fields": sorted(IDENTIFIERS)}
    assert read.status_code == 200
    assert read.json() == NORMALISED


def test_stored_only_as_ciphertext(citizen, demo):
    citizen.put(PATH, IDENTIFIERS)

    record = CitizenIdentifiers.objects.get(user=demo["citizen"])
    assert record.fields == sorted(IDENTIFIERS)
    for value in NORMALISED.values():
        assert value.encode() not in bytes(record.ciphertext)
    # Phone, passport, INN and SNILS are indexed; the address is not.
    assert sorted(IdentifierIndex.objects.values_list("field", flat=True)) == [
        "inn",
        "passport",
        "phone",
        "snils",
    ]


def test_ciphertext_bound_to_owner(citizen, demo, api_client):
    citizen.put(PATH, IDENTIFIERS)
    api_client.login("citizen2").put(PATH, {"inn": "7707083893"})
    mine = CitizenIdentifiers.objects.get(user=demo["citizen"])
    CitizenIdentifiers.objects.filter(user=demo["citizen2"]).update(
        ciphertext=mine.ciphertext,
        wrapped_key=mine.wrapped_key,
        wrap_nonce=mine.wrap_nonce,
        content_nonce=mine.content_nonce,
    )

    response = api_client.get(PATH)

    assert response.status_code == 409
    assert response.json()["error"] == "integrity_failed"


def test_put_replaces_and_clears(citizen, demo):
    citizen.put(PATH, IDENTIFIERS)

    response = citizen.put(PATH, {"inn": "7707083893", "phone": ""})

    assert response.json() == {"fields": ["inn"]}
    assert citizen.get(PATH).json()["inn"] == "7707083893"
    assert list(IdentifierIndex.objects.values_list("field", flat=True)) == ["inn"]


def test_put_nothing_deletes_record(citizen, demo):
    citizen.put(PATH, IDENTIFIERS)

    response = citizen.put(PATH, {})

    assert response.json() == {"fields": []}
    assert not CitizenIdentifiers.objects.exists()
    assert not IdentifierIndex.objects.exists()


def test_invalid_put_names_field_keeps_old(citizen, demo):
    citizen.put(PATH, IDENTIFIERS)
    before = bytes(CitizenIdentifiers.objects.get().ciphertext)
    entries = JournalEntry.objects.count()

    response = citizen.put(
        PATH, {**IDENTIFIERS, "snils": "274-615-803 88", "inn": "502731884665"}
    )

    body = response.json()
    assert response.status_code == 422
    assert body["field"] == "inn"
    assert [e["field"] for e in body["errors"]] == ["inn", "snils"]
    assert "502731884665" not in response.content.decode()
    assert "27461580388" not in response.content.decode()
    assert bytes(CitizenIdentifiers.objects.get().ciphertext) == before
    assert JournalEntry.objects.count() == entries


def test_wrong_type_rejected(citizen):
    response = citizen.put(PATH, {"inn": 7707083893})

    assert response.status_code == 422
    assert response.json()["field"] == "inn"
    assert "7707083893" not in response.content.decode()


def test_unknown_field_rejected(citizen):
    response = citizen.put(PATH, {"blood_type": "A+"})

    assert response.status_code == 422
    assert response.json()["field"] == "blood_type"


def test_staff_rejected(api_client, demo, master_key_file):
    operator = api_client.login("operator")

    assert operator.get(PATH).status_code == 403
    assert operator.put(PATH, {"inn": "7707083893"}).status_code == 403
    assert not CitizenIdentifiers.objects.exists()


def test_reads_and_writes_journaled_without_values(citizen, demo):
    citizen.put(PATH, IDENTIFIERS)
    citizen.get(PATH)

    update = JournalEntry.objects.get(action=records.PERSONAL_DATA_UPDATE)
    read = JournalEntry.objects.get(action=records.PERSONAL_DATA_READ)
    assert update.after == {"fields": sorted(IDENTIFIERS)}
    assert read.after == {"via": "api", "fields": sorted(IDENTIFIERS)}
    assert read.actor_id == demo["citizen"].pk
    for entry in (update, read):
        text = str(entry.before) + str(entry.after) + entry.object_label
        for value in NORMALISED.values():
            assert value not in text


def test_get_without_record_is_empty_and_unjournaled(citizen):
    response = citizen.get(PATH)

    assert response.json() == dict.fromkeys(NORMALISED)
    assert not JournalEntry.objects.filter(action=records.PERSONAL_DATA_READ).exists()
