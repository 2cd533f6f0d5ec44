import pytest

from consultations.factories import PROTOCOL, act, consultation_in
from protokol.consultations.models import Status
from protokol.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from protokol.journal.models import JournalEntry
from protokol.journal.services import with_payloads
from protokol.protocols.models import ProtocolVersion
from protokol.protocols.services import latest_version, save_protocol

SEALED = [Status.SIGNED, Status.ARCHIVED, Status.DISPUTED]


def stored_row(version: ProtocolVersion) -> dict:
    return ProtocolVersion.objects.filter(pk=version.pk).values().get()


def test_save_creates_version_one(consultation, demo):
    version = save_protocol(demo["operator"], consultation.pk, **PROTOCOL)

    assert version.version == 1
    assert version.author_id == demo["operator"].pk
    assert version.author_name == "Ольга Смирнова"
    assert version.decision == PROTOCOL["decision"]


def test_second_save_creates_version_two(consultation, demo):
    save_protocol(demo["operator"], consultation.pk, **PROTOCOL)

    second = save_protocol(
        demo["reviewer"], consultation.pk, **{**PROTOCOL, "decision": "Отказано"}
    )

    assert second.version == 2
    assert ProtocolVersion.objects.filter(consultation=consultation).count() == 2


def test_second_save_leaves_version_one_unchanged(consultation, demo):
    first = save_protocol(demo["operator"], consultation.pk, **PROTOCOL)
    snapshot = stored_row(first)

    save_protocol(
        demo["reviewer"],
        consultation.pk,
        **{name: f"{value} (исправлено)" for name, value in PROTOCOL.items()},
    )

    assert stored_row(first) == snapshot


def test_latest_version_is_newest(consultation, demo):
    save_protocol(demo["operator"], consultation.pk, **PROTOCOL)
    save_protocol(demo["operator"], consultation.pk, **{**PROTOCOL, "decision": "2"})

    assert latest_version(consultation).decision == "2"


def test_latest_version_none_without_draft(consultation):
    assert latest_version(consultation) is None


def test_save_journals_entry(consultation, demo):
    version = save_protocol(demo["operator"], consultation.pk, **PROTOCOL)

    [entry] = with_payloads([JournalEntry.objects.get(action="protocol:save")])
    assert entry.object_id == str(version.pk)
    assert entry.object_label == f"{consultation.number} v1"
    assert entry.after == {"version": 1}


def test_save_without_documents_allowed(consultation, demo):
    version = save_protocol(
        demo["operator"], consultation.pk, **{**PROTOCOL, "documents": "  "}
    )

    assert version.documents == ""


@pytest.mark.parametrize(
    "field", ["question", "recommendations", "decision", "decision_reason"]
)
def test_save_empty_field_rejected(consultation, demo, field):
    with pytest.raises(ValidationFailed) as caught:
        save_protocol(demo["operator"], consultation.pk, **{**PROTOCOL, field: ""})

    assert caught.value.field == field
    assert not ProtocolVersion.objects.exists()


@pytest.mark.parametrize("username", ["citizen", "supervisor", "auditor", "admin"])
def test_save_by_non_drafting_role_rejected(consultation, demo, username):
    with pytest.raises(PermissionDenied):
        save_protocol(demo[username], consultation.pk, **PROTOCOL)

    assert not ProtocolVersion.objects.exists()


def test_save_by_other_department_not_found(consultation, demo):
    with pytest.raises(NotFound):
        save_protocol(demo["operator2"], consultation.pk, **PROTOCOL)


@pytest.mark.parametrize("status", SEALED)
def test_save_after_signing_rejected(demo, status):
    consultation = consultation_in(demo, status)
    versions = list(ProtocolVersion.objects.values())

    with pytest.raises(Conflict) as caught:
        save_protocol(demo["operator"], consultation.pk, **PROTOCOL)

    assert caught.value.status == 409
    assert caught.value.field == "status"
    assert list(ProtocolVersion.objects.values()) == versions


@pytest.mark.parametrize(
    "status", [Status.IN_REVIEW, Status.APPROVED, Status.WITHDRAWN]
)
def test_save_outside_drafting_rejected(demo, status):
    consultation = consultation_in(demo, status)

    with pytest.raises(Conflict) as caught:
        save_protocol(demo["operator"], consultation.pk, **PROTOCOL)

    assert caught.value.field == "status"


@pytest.mark.parametrize(
    "status", [Status.INITIATED, Status.DATA_REQUESTED, Status.DRAFTING]
)
def test_save_in_editable_status_allowed(demo, status):
    consultation = consultation_in(demo, status)

    version = save_protocol(demo["reviewer"], consultation.pk, **PROTOCOL)

    assert version.consultation_id == consultation.pk


def test_save_after_return_creates_next_version(demo):
    consultation = consultation_in(demo, Status.IN_REVIEW)
    act(demo["reviewer"], consultation, "return", comment="Уточните решение")

    version = save_protocol(demo["operator"], consultation.pk, **PROTOCOL)

    assert version.version == 2


def test_reopen_keeps_signed_version(demo):
    consultation = consultation_in(demo, Status.DISPUTED)
    signed = latest_version(consultation)
    snapshot = stored_row(signed)
    act(demo["supervisor"], consultation, "reopen", comment="Нужен новый ответ")

    save_protocol(demo["operator"], consultation.pk, **{**PROTOCOL, "decision": "3"})

    assert stored_row(signed) == snapshot
    assert latest_version(consultation).version == signed.version + 1
