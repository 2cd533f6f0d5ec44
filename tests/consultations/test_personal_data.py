"""Data collected for a consultation, lookups by identifier and key rotation."""

import io
import secrets

import pytest
from django.core.management import call_command

from protokol.accounts.models import CitizenIdentifiers
from protokol.consultations import encryption, personal_data
from protokol.consultations.models import CollectedData, CollectedDataIndex, IndexKey
from protokol.errors import Conflict, PermissionDenied
from protokol.journal.models import JournalAction, JournalEntry
from protokol.personal import records
from protokol.protocols.services import save_protocol

from .factories import PATHS, PROTOCOL, act, open_consultation

SNILS = "274-615-803 89"
PASSPORT = "45 19 731946"


@pytest.fixture
def social(demo, master_key_file):
    """A consultation of the SOC service (department A), which requires SNILS."""
    return open_consultation(demo["citizen"], service_code="SOC")


@pytest.fixture
def passport_case(demo, master_key_file):
    """A consultation of the PAS service (department B), which requires a passport."""
    return open_consultation(demo["citizen2"], service_code="PAS")


def data_path(consultation) -> str:
    return f"/api/v1/consultations/{consultation.pk}/data"


def test_citizen_gives_data_operator_reads(api_client, social):
    saved = api_client.login("citizen").put(
        data_path(social), {"values": {"snils": SNILS}}
    )
    read = api_client.login("operator").get(data_path(social))

    assert saved.status_code == 200, saved.content
    assert saved.json()["given"] == ["snils"]
    assert saved.json()["missing"] == []
    assert "values" not in saved.json()
    assert read.status_code == 200
    assert read.json()["values"] == {"snils": "27461580389"}


def test_only_required_fields_accepted(api_client, social):
    response = api_client.login("citizen").put(
        data_path(social), {"values": {"snils": SNILS, "passport": PASSPORT}}
    )

    assert response.status_code == 422
    assert response.json()["field"] == "passport"
    assert not CollectedData.objects.exists()


def test_invalid_value_names_field_writes_nothing(api_client, social):
    client = api_client.login("citizen")
    entries = JournalEntry.objects.count()

    response = client.put(data_path(social), {"values": {"snils": "274-615-803 88"}})

    assert response.status_code == 422
    assert response.json()["field"] == "snils"
    assert response.json()["errors"][0]["field"] == "snils"
    assert "27461580388" not in response.content.decode()
    assert "274-615-803 88" not in response.content.decode()
    assert not CollectedData.objects.exists()
    assert JournalEntry.objects.count() == entries


def test_empty_values_record_missing(api_client, social):
    response = api_client.login("operator").put(
        data_path(social), {"values": {"snils": None}}
    )

    assert response.status_code == 200
    assert response.json()["missing"] == ["snils"]


def test_other_department_cannot_read_or_write(api_client, social):
    client = api_client.login("operator2")

    assert client.get(data_path(social)).status_code == 404
    put = client.put(data_path(social), {"values": {"snils": SNILS}})
    assert put.status_code == 404
    assert not CollectedData.objects.exists()


@pytest.mark.parametrize("username", ["auditor", "admin"])
def test_auditor_and_admin_cannot_read_values(api_client, social, username):
    api_client.login("citizen").put(data_path(social), {"values": {"snils": SNILS}})

    response = api_client.login(username).get(data_path(social))

    assert response.status_code == 403
    assert JournalEntry.objects.filter(
        action=JournalAction.ACCESS_DENIED, object_id=str(social.pk)
    ).exists()


def test_sealed_consultation_rejected(demo, social):
    for username, action in PATHS["signed"]:
        if action == "save":
            save_protocol(demo[username], social.pk, **PROTOCOL)
        else:
            act(demo[username], social, action)

    with pytest.raises(Conflict):
        personal_data.set_collected_data(demo["operator"], social.pk, {"snils": SNILS})


def test_withdrawn_rejected(demo, social):
    act(demo["citizen"], social, "withdraw")

    with pytest.raises(Conflict):
        personal_data.set_collected_data(demo["citizen"], social.pk, {"snils": SNILS})


def test_supervisor_reads_but_cannot_write(demo, social):
    personal_data.set_collected_data(demo["citizen"], social.pk, {"snils": SNILS})

    with pytest.raises(PermissionDenied):
        personal_data.set_collected_data(
            demo["supervisor"], social.pk, {"snils": SNILS}
        )
    read = personal_data.read_collected_data(demo["supervisor"], social.pk, via="page")
    assert read["values"] == {"snils": "27461580389"}


def test_read_and_write_journaled_without_values(api_client, social):
    api_client.login("citizen").put(data_path(social), {"values": {"snils": SNILS}})
    api_client.login("reviewer").get(data_path(social))

    update = JournalEntry.objects.get(action=records.PERSONAL_DATA_UPDATE)
    read = JournalEntry.objects.get(action=records.PERSONAL_DATA_READ)
    assert update.consultation_id == social.pk
    assert update.after == {"fields": ["snils"], "missing": []}
    assert read.after == {"via": "api", "fields": ["snils"]}
    for entry in (update, read):
        assert "27461580389" not in str(entry.after)


def test_ciphertext_bound_to_consultation(demo, social, master_key_file):
    other = open_consultation(demo["citizen"], service_code="SOC")
    personal_data.set_collected_data(demo["citizen"], social.pk, {"snils": SNILS})
    personal_data.set_collected_data(demo["citizen"], other.pk, {"snils": None})
    source = CollectedData.objects.get(consultation=social)
    CollectedData.objects.filter(consultation=other).update(
        ciphertext=source.ciphertext,
        wrapped_key=source.wrapped_key,
        wrap_nonce=source.wrap_nonce,
        content_nonce=source.content_nonce,
    )

    with pytest.raises(records.IntegrityFailed):
        personal_data.read_collected_data(demo["citizen"], other.pk, via="api")


# -- lookup


def look_up(client, field, value):
    return client.post("/api/v1/lookup", {"field": field, "value": value})


def test_lookup_finds_by_collected_value(api_client, social):
    api_client.login("citizen").put(data_path(social), {"values": {"snils": SNILS}})

    response = look_up(api_client.login("operator"), "snils", "27461580389")

    body = response.json()
    assert response.status_code == 200, response.content
    assert [c["id"] for c in body["consultations"]] == [social.pk]
    assert body["citizens"] == []


def test_lookup_finds_by_citizen_identifier(api_client, demo, passport_case):
    api_client.login("citizen2").put("/api/v1/me/identifiers", {"passport": PASSPORT})

    response = look_up(api_client.login("operator2"), "passport", "4519 731946")

    body = response.json()
    assert [c["id"] for c in body["consultations"]] == [passport_case.pk]
    assert body["citizens"] == [
        {"id": demo["citizen2"].pk, "name": demo["citizen2"].display_name}
    ]


def test_lookup_limited_to_department(api_client, demo, passport_case):
    api_client.login("citizen2").put("/api/v1/me/identifiers", {"passport": PASSPORT})

    response = look_up(api_client.login("operator"), "passport", PASSPORT)

    assert response.json() == {"citizens": [], "consultations": []}


def test_lookup_no_match(api_client, social):
    api_client.login("citizen").put(data_path(social), {"values": {"snils": SNILS}})

    response = look_up(api_client.login("operator"), "snils", "112-233-445 95")

    assert response.json() == {"citizens": [], "consultations": []}


@pytest.mark.parametrize("username", ["citizen", "auditor", "admin"])
def test_lookup_role_rejected(api_client, social, username):
    response = look_up(api_client.login(username), "snils", SNILS)

    assert response.status_code == 403
    denial = JournalEntry.objects.get(
        action=JournalAction.ACCESS_DENIED, object_type="personal_data_lookup"
    )
    assert denial.after == {"reason": "forbidden", "field": "snils"}


def test_lookup_invalid_value_names_field(api_client, social):
    response = look_up(api_client.login("operator"), "snils", "274-615-803 88")

    assert response.status_code == 422
    assert response.json()["field"] == "snils"
    assert "27461580388" not in response.content.decode()


def test_lookup_unindexed_field_rejected(api_client, social):
    response = look_up(api_client.login("operator"), "postal_address", "Тверь")

    assert response.status_code == 422
    assert response.json()["field"] == "field"


def test_lookup_journaled_with_ids_only(api_client, social):
    api_client.login("citizen").put(data_path(social), {"values": {"snils": SNILS}})

    look_up(api_client.login("operator"), "snils", SNILS)

    entry = JournalEntry.objects.get(action=records.PERSONAL_DATA_LOOKUP)
    assert entry.after == {
        "field": "snils",
        "citizen_ids": [],
        "consultation_ids": [social.pk],
    }


# -- key rotation


def rotate(*arguments) -> str:
    output = io.StringIO()
    call_command("keys", "rotate", *map(str, arguments), stdout=output)
    return output.getvalue()


def test_lookup_and_read_after_rotation(
    api_client, demo, social, settings, monkeypatch, tmp_path, master_key_file
):
    api_client.login("citizen").put(data_path(social), {"values": {"snils": SNILS}})
    api_client.put("/api/v1/me/identifiers", {"inn": "502731884666"})
    digests = set(CollectedDataIndex.objects.values_list("digest", flat=True))
    new_key = tmp_path / "new.key"
    new_key.write_bytes(secrets.token_bytes(32))
    new_key.chmod(0o600)

    output = rotate(new_key)
    master_key_file.unlink()
    monkeypatch.setattr(settings.CONFIG, "master_key_file", new_key)

    new_id = encryption.read_key_file(new_key).key_id
    # One index key, one identifiers record, one collected-data record.
    assert f"Re-wrapped 3 data keys under master key {new_id}." in output
    assert IndexKey.objects.get().encryption_key_id == new_id
    assert CitizenIdentifiers.objects.get().encryption_key_id == new_id
    assert CollectedData.objects.get().encryption_key_id == new_id
    assert set(CollectedDataIndex.objects.values_list("digest", flat=True)) == digests
    operator = api_client.login("operator")
    found = look_up(operator, "snils", SNILS).json()
    assert [c["id"] for c in found["consultations"]] == [social.pk]
    by_inn = look_up(api_client.login("supervisor"), "inn", "502731884666").json()
    assert [c["id"] for c in by_inn["citizens"]] == [demo["citizen"].pk]
    read = api_client.login("operator").get(data_path(social))
    assert read.json()["values"] == {"snils": "27461580389"}


def test_rotation_rerun_changes_nothing(api_client, social, tmp_path):
    api_client.login("citizen").put(data_path(social), {"values": {"snils": SNILS}})
    new_key = tmp_path / "new.key"
    new_key.write_bytes(secrets.token_bytes(32))
    rotate(new_key)

    output = rotate(new_key)

    assert "Re-wrapped 0 data keys" in output


def test_rotation_reports_altered_record(api_client, social, tmp_path):
    api_client.login("citizen").put(data_path(social), {"values": {"snils": SNILS}})
    record = CollectedData.objects.get()
    wrapped = bytearray(bytes(record.wrapped_key))
    wrapped[0] ^= 0x01
    CollectedData.objects.filter(pk=record.pk).update(wrapped_key=bytes(wrapped))
    new_key = tmp_path / "new.key"
    new_key.write_bytes(secrets.token_bytes(32))
    errors = io.StringIO()

    with pytest.raises(Exception, match="incomplete"):
        call_command("keys", "rotate", str(new_key), stderr=errors)

    assert f"collected data {record.pk}" in errors.getvalue()
    assert IndexKey.objects.get().encryption_key_id == (
        encryption.read_key_file(new_key).key_id
    )


def test_non_string_value_names_field(api_client, social):
    response = api_client.login("citizen").put(
        data_path(social), {"values": {"snils": 27461580389}}
    )

    assert response.status_code == 422
    assert response.json()["field"] == "snils"
    assert "27461580389" not in response.content.decode()
    assert not CollectedData.objects.exists()


def test_values_missing_rejected(api_client, social):
    response = api_client.login("citizen").put(data_path(social), {"snils": SNILS})

    assert response.status_code == 422
    assert SNILS not in response.content.decode()
    assert not CollectedData.objects.exists()


def test_lookup_denial_journals_no_value(api_client, social):
    response = look_up(api_client.login("citizen"), "27461580389", SNILS)

    assert response.status_code == 403
    denial = JournalEntry.objects.get(
        action=JournalAction.ACCESS_DENIED, object_type="personal_data_lookup"
    )
    assert denial.after == {"reason": "forbidden", "field": None}
