"""Collected data and data requests in the copy: masked by default, full on request."""

import pytest

from consultations.factories import PROTOCOL
from protokol.consultations import personal_data, services
from protokol.documents import cache as copy_cache
from protokol.documents.collected import mask_value
from protokol.documents.services import issue_copy
from protokol.errors import PermissionDenied
from protokol.journal.models import JournalAction, JournalEntry
from protokol.personal import records
from protokol.protocols.services import save_protocol

from .pdf_tools import contains_words, pdf_text

SNILS = "274-615-803 89"
SNILS_FULL = "274-615-803 89"
SNILS_MASKED = "***-***-*** 89"
REQUEST_COMMENT = "Укажите СНИЛС заявителя для проверки права на выплату."


@pytest.fixture
def social_signed(demo, master_key_file):
    """A SOC consultation (SNILS required) whose data the operator requested."""
    citizen, operator, reviewer = demo["citizen"], demo["operator"], demo["reviewer"]
    consultation = services.create_consultation(
        citizen,
        service_code="SOC",
        subject="Ежемесячная выплата",
        description="Положена ли мне ежемесячная выплата на ребёнка?",
    )
    services.transition(operator, consultation.pk, action="take")
    services.transition(
        operator, consultation.pk, action="request_data", comment=REQUEST_COMMENT
    )
    personal_data.set_collected_data(citizen, consultation.pk, {"snils": SNILS})
    services.transition(citizen, consultation.pk, action="provide_data")

    save_protocol(operator, consultation.pk, **PROTOCOL)
    services.transition(operator, consultation.pk, action="submit")
    services.transition(reviewer, consultation.pk, action="approve")
    services.transition(reviewer, consultation.pk, action="sign")
    consultation.refresh_from_db()
    return consultation


def copy_text(tmp_path, content: bytes, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return pdf_text(path)


def test_mask_value_keeps_last_two_digits():
    assert mask_value("snils", "27461580389") == SNILS_MASKED
    assert mask_value("passport", "4519731946") == "**** ****46"
    assert mask_value("phone", "+79123456789") == "+*********89"
    assert mask_value("inn", "500100732259") == "**********59"


def test_mask_value_hides_free_text_whole():
    assert mask_value("postal_address", "Невский пр., 1") == "******"


def test_masked_copy_by_default(social_signed, demo, tmp_path):
    _, content = issue_copy(demo["citizen"], social_signed.pk)
    text = copy_text(tmp_path, content, "masked.pdf")

    assert contains_words(text, "Собранные данные")
    assert contains_words(text, f"СНИЛС {SNILS_MASKED}")
    assert "274-615-803" not in text
    assert "27461580389" not in text
    assert contains_words(text, "Запросы данных")
    assert contains_words(text, REQUEST_COMMENT)
    assert contains_words(text, "данные представлены")


def test_full_copy_for_citizen(social_signed, demo, tmp_path):
    _, content = issue_copy(demo["citizen"], social_signed.pk, personal_data="full")
    text = copy_text(tmp_path, content, "full.pdf")

    assert contains_words(text, f"СНИЛС {SNILS_FULL}")
    assert contains_words(text, "Персональные данные приведены полностью.")
    reads = JournalEntry.objects.filter(
        consultation_id=social_signed.pk, action=records.PERSONAL_DATA_READ
    )
    assert [entry.after["via"] for entry in reads] == ["copy"]
    issued = JournalEntry.objects.filter(
        consultation_id=social_signed.pk, action=JournalAction.COPY_READ
    ).get()
    assert issued.after["personal_data"] == "full"
    assert issued.actor_id == demo["citizen"].pk


def test_full_copy_for_operator_in_english(social_signed, demo, tmp_path):
    _, content = issue_copy(
        demo["operator"], social_signed.pk, language="en", personal_data="full"
    )
    text = copy_text(tmp_path, content, "full-en.pdf")

    assert contains_words(text, "Collected data")
    assert contains_words(text, SNILS_FULL)
    # The request comment stays in the language it was written in.
    assert contains_words(text, REQUEST_COMMENT)


def test_full_copy_rejected_for_auditor(social_signed, demo):
    with pytest.raises(PermissionDenied) as raised:
        issue_copy(demo["auditor"], social_signed.pk, personal_data="full")

    assert raised.value.field == "personal_data"
    denial = JournalEntry.objects.filter(action=JournalAction.ACCESS_DENIED).last()
    assert denial.actor_id == demo["auditor"].pk
    assert not JournalEntry.objects.filter(action=JournalAction.COPY_READ).exists()


def test_auditor_gets_masked_copy(social_signed, demo, tmp_path):
    _, content = issue_copy(demo["auditor"], social_signed.pk)
    text = copy_text(tmp_path, content, "auditor.pdf")

    assert contains_words(text, SNILS_MASKED)


def test_masked_and_full_cached_apart(social_signed, demo):
    citizen = demo["citizen"]
    before = set(copy_cache.cache_dir().glob("*/*"))
    _, masked = issue_copy(citizen, social_signed.pk)
    _, full = issue_copy(citizen, social_signed.pk, personal_data="full")
    _, full_again = issue_copy(citizen, social_signed.pk, personal_data="full")
    _, masked_again = issue_copy(citizen, social_signed.pk)

    assert masked != full
    assert full_again == full
    assert masked_again == masked
    stored = set(copy_cache.cache_dir().glob("*/*")) - before
    plain = [path for path in stored if path.suffix == ".pdf"]
    encrypted = [path for path in stored if path.name.endswith(".pdf.enc")]
    assert len(plain) == 1
    assert len(encrypted) == 1
    content = encrypted[0].read_bytes()
    assert b"%PDF" not in content
    assert b"27461580389" not in content


def test_api_personal_data_parameter(social_signed, api_client):
    path = f"/api/v1/consultations/{social_signed.pk}/protocol.pdf"
    api_client.login("auditor")

    invalid = api_client.get(path + "?personal_data=all")
    forbidden = api_client.get(path + "?personal_data=full")
    masked = api_client.get(path)

    assert invalid.status_code == 422
    assert invalid.json()["field"] == "personal_data"
    assert forbidden.status_code == 403
    assert forbidden.json()["field"] == "personal_data"
    assert masked.status_code == 200


def test_draft_copy_prints_open_request(demo, master_key_file, tmp_path):
    operator = demo["operator"]
    consultation = services.create_consultation(
        demo["citizen"],
        service_code="SOC",
        subject="Выплата",
        description="Вопрос о выплате.",
    )
    services.transition(operator, consultation.pk, action="take")
    services.transition(
        operator, consultation.pk, action="request_data", comment=REQUEST_COMMENT
    )

    _, content = issue_copy(demo["citizen"], consultation.pk)
    text = copy_text(tmp_path, content, "draft.pdf")

    assert contains_words(text, "СНИЛС не представлено")
    assert contains_words(text, "ожидает ответа")
