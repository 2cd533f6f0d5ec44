import pytest

from protokol.consultations import services
from protokol.consultations.models import Status
from protokol.consultations.presenters import consultation_detail
from protokol.protocols.services import save_protocol

from .factories import PROTOCOL, consultation_in


@pytest.fixture
def dialogue(consultation, demo):
    """A consultation with one public and one internal message."""
    services.add_message(
        demo["citizen"], consultation.pk, text="Вопрос гражданина", visibility="public"
    )
    services.add_message(
        demo["operator"],
        consultation.pk,
        text="Служебная заметка",
        visibility="internal",
    )
    return consultation


def message_texts(detail: dict) -> list[str]:
    return [message["text"] for message in detail["messages"]]


def test_detail_hides_internal_from_citizen(dialogue, demo):
    detail = consultation_detail(dialogue, demo["citizen"])

    assert message_texts(detail) == ["Вопрос гражданина"]


@pytest.mark.parametrize("username", ["operator", "reviewer", "supervisor", "auditor"])
def test_detail_shows_internal_to_staff(dialogue, demo, username):
    detail = consultation_detail(dialogue, demo[username])

    assert message_texts(detail) == ["Вопрос гражданина", "Служебная заметка"]


def test_detail_public_only_hides_internal_from_staff(dialogue, demo):
    detail = consultation_detail(dialogue, demo["operator"], public_only=True)

    assert message_texts(detail) == ["Вопрос гражданина"]


def test_detail_lists_allowed_actions_of_viewer(consultation, demo):
    assert consultation_detail(consultation, demo["operator"])["allowed_actions"] == [
        "take",
        "request_data",
    ]
    assert consultation_detail(consultation, demo["citizen"])["allowed_actions"] == [
        "withdraw"
    ]
    assert consultation_detail(consultation, demo["auditor"])["allowed_actions"] == []


def test_detail_shows_latest_protocol_and_versions(consultation, demo):
    save_protocol(demo["operator"], consultation.pk, **PROTOCOL)
    save_protocol(demo["reviewer"], consultation.pk, **{**PROTOCOL, "decision": "2"})

    detail = consultation_detail(consultation, demo["citizen"])

    assert detail["protocol"]["version"] == 2
    assert detail["protocol"]["decision"] == "2"
    assert [v["version"] for v in detail["protocol_versions"]] == [1, 2]


def test_detail_without_protocol(consultation, demo):
    assert consultation_detail(consultation, demo["citizen"])["protocol"] is None


def test_detail_lists_transitions(demo):
    consultation = consultation_in(demo, Status.IN_REVIEW)

    detail = consultation_detail(consultation, demo["citizen"])

    assert [t["action"] for t in detail["transitions"]] == ["take", "submit"]
    assert detail["status_label"] == "на согласовании"
