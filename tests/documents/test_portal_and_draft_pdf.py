"""The PDF copy of imported portal appeals and of protocols not yet signed."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from protokol.consultations.attachments import add_attachment
from protokol.consultations.presenters import consultation_detail
from protokol.documents.pdf import render_protocol_pdf
from web.portal_appeal import (
    ANSWER,
    CLOSED_STATUS,
    SECOND_ORGANISATION,
    import_portal_appeal,
)

from .pdf_tools import contains_words, pdf_text, run_tool

DRAFT_BANNER = "ПРОЕКТ — не подписан"


def rendered_text(consultation, viewer, tmp_path, *, language="ru") -> str:
    detail = consultation_detail(consultation, viewer, public_only=True)
    path = tmp_path / f"copy-{language}.pdf"
    path.write_bytes(render_protocol_pdf(detail, language=language))
    return pdf_text(path)


def page_texts(text: str) -> list[str]:
    """Split pdftotext output into pages at its form feeds, dropping the empty tail."""
    return [page for page in text.split("\f") if page.strip()]


@pytest.fixture
def archived_appeal(demo, tmp_path):
    return import_portal_appeal(tmp_path)


def test_portal_copy_shows_portal_statuses(archived_appeal, demo, tmp_path):
    text = rendered_text(archived_appeal, demo["supervisor"], tmp_path)

    assert contains_words(text, "«Модерация», зарегистрирована")
    assert contains_words(
        text, "«Получен ответ», из «подготовка протокола» в «подписана»"
    )
    assert contains_words(text, f"«{CLOSED_STATUS}», из «подписана» в «в архиве»")


def test_portal_copy_says_it_is_unsigned(archived_appeal, demo, tmp_path):
    text = rendered_text(archived_appeal, demo["supervisor"], tmp_path)
    english = rendered_text(
        archived_appeal, demo["supervisor"], tmp_path, language="en"
    )

    assert contains_words(text, "Копия без электронной подписи:")
    assert contains_words(english, "Copy without an electronic signature:")
    assert DRAFT_BANNER not in text


def test_portal_copy_shows_portal_facts(archived_appeal, demo, tmp_path):
    text = rendered_text(archived_appeal, demo["supervisor"], tmp_path)

    assert contains_words(text, "22.04.2021 → 26.04.2021")
    assert contains_words(text, "Мусор на внутридворовой территории (Двор)")
    assert contains_words(text, "Проблема решена: да")


def test_portal_copy_says_answer_in_dialogue(archived_appeal, demo, tmp_path):
    text = rendered_text(archived_appeal, demo["supervisor"], tmp_path)

    assert contains_words(text, ANSWER)
    assert contains_words(
        text, "Протокол не составлялся: ответ дан в переписке на городском портале."
    )
    assert "Протокол ещё не сохранён." not in text


def test_portal_copy_english_says_answer_in_dialogue(archived_appeal, demo, tmp_path):
    text = rendered_text(archived_appeal, demo["supervisor"], tmp_path, language="en")

    assert contains_words(text, "the answer was given in the dialogue")
    assert contains_words(text, "“Модерация”, registered")


def test_portal_copy_names_department_as_responsible(archived_appeal, demo, tmp_path):
    text = rendered_text(archived_appeal, demo["supervisor"], tmp_path)

    assert contains_words(text, f"{SECOND_ORGANISATION} (отвечает подразделение)")


def test_portal_copy_closed_has_no_draft_banner(archived_appeal, demo, tmp_path):
    text = rendered_text(archived_appeal, demo["supervisor"], tmp_path)

    assert DRAFT_BANNER not in text
    assert contains_words(text, "Протокол консультации")


def test_signed_copy_has_no_draft_banner(signed_consultation, demo, tmp_path):
    text = rendered_text(signed_consultation, demo["citizen"], tmp_path)

    assert DRAFT_BANNER not in text
    assert "Проект протокола" not in text


def test_draft_copy_banner_on_every_page(demo, consultation, tmp_path):
    # Enough messages to fill more than one page.
    from protokol.consultations import services

    for number in range(1, 80):
        services.add_message(
            demo["citizen"],
            consultation.pk,
            text=f"Сообщение номер {number}.",
            visibility="public",
        )
    text = rendered_text(consultation, demo["citizen"], tmp_path)
    pages = page_texts(text)

    assert len(pages) > 1
    for page in pages:
        assert DRAFT_BANNER in page


def test_draft_copy_titled_as_draft(demo, consultation, tmp_path):
    detail = consultation_detail(consultation, demo["citizen"], public_only=True)
    path = tmp_path / "draft.pdf"
    path.write_bytes(render_protocol_pdf(detail, language="ru"))
    text = pdf_text(path)
    info = run_tool("pdfinfo", path).stdout

    assert contains_words(text, "Проект протокола консультации")
    assert contains_words(text, "Протокол ещё не подписан: это проект,")
    assert re.search(r"^Title:\s+Проект протокола консультации", info, re.MULTILINE)


def test_draft_copy_english_banner(demo, consultation, tmp_path):
    text = rendered_text(consultation, demo["citizen"], tmp_path, language="en")

    assert "DRAFT — not signed" in text
    assert contains_words(text, "Draft consultation protocol")


def test_digest_wraps_in_even_halves(demo, consultation, tmp_path):
    add_attachment(
        demo["citizen"],
        consultation.pk,
        SimpleUploadedFile("справка.pdf", b"%PDF-1.7 scan", "application/pdf"),
    )
    digest = consultation.attachments.get().sha256

    text = rendered_text(consultation, demo["citizen"], tmp_path)

    assert digest[:32] in text
    assert digest[32:] in text
