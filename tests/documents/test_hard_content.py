"""Copies of protocols with mixed scripts, emoji, long words and many messages."""

import logging
import re

from django.core.files.uploadedfile import SimpleUploadedFile

from protokol.consultations import services
from protokol.consultations.attachments import add_attachment
from protokol.protocols.services import save_protocol

from .pdf_tools import contains_words, pdf_text, run_tool
from .test_pdf import citizen_copy, write

RUSSIAN = "Ёлочный сбор № 7 «Весёлый ёж»"
EMOJI = "Спасибо 😀 за ответ"
# No lam-alef: poppler extracts that ligature with its letters swapped.
ARABIC = "شكرا جدا"
CJK = "谢谢你的回答"
LONG_WORD = "Ж" * 300
# Emoji with a skin tone, a flag and a ZWJ family, and scripts that the
# bundled PT fonts lack: system fonts (Symbola, FreeSans) must supply them.
MORE_EMOJI = "Праздник 🎉 👍🏽 🇷🇺 👨\u200d👩\u200d👧 готов"
DEVANAGARI = "हिन्दी"
THAI = "ภาษาไทย"


def font_rows(path) -> list[list[str]]:
    """Return pdffonts' rows, each split into columns."""
    result = run_tool("pdffonts", path)
    assert result.returncode == 0, result.stderr
    return [row.split() for row in result.stdout.splitlines()[2:]]


def test_mixed_scripts_render_with_embedded_glyphs(demo, tmp_path, caplog):
    consultation = services.create_consultation(
        demo["citizen"],
        service_code="GEN",
        subject=RUSSIAN,
        description=f"{LONG_WORD}\nЦитата: «{ARABIC}» и «{CJK}».",
    )
    for text in (EMOJI, f"«{ARABIC}»", f"«{CJK}»"):
        services.add_message(
            demo["citizen"], consultation.pk, text=text, visibility="public"
        )

    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        content = citizen_copy(consultation, demo["citizen"])
    path = write(tmp_path, content)
    text = pdf_text(path)
    # poppler wraps right-to-left runs in U+202B and U+202C embedding marks.
    joined = "".join(text.split()).replace("\u202b", "").replace("\u202c", "")

    # A character without a glyph is drawn as .notdef, which WeasyPrint logs.
    assert [record.getMessage() for record in caplog.records] == []
    rows = font_rows(path)
    assert rows
    for row in rows:
        # Columns from the right: object id, generation, uni, sub, emb.
        assert row[-5] == "yes", row
    assert contains_words(text, RUSSIAN)
    assert contains_words(text, EMOJI)
    assert CJK in joined
    # poppler returns right-to-left text in logical order.
    assert ARABIC.replace(" ", "") in joined
    # The long word wraps across lines without losing characters.
    assert text.count("Ж") == len(LONG_WORD)
    assert "?" not in text
    assert "\ufffd" not in text


def test_emoji_and_more_scripts_have_glyphs(demo, tmp_path, caplog):
    consultation = services.create_consultation(
        demo["citizen"],
        service_code="GEN",
        subject="Эмодзи и письменности",
        description=f"{MORE_EMOJI}\n{DEVANAGARI} {THAI}",
    )

    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        content = citizen_copy(consultation, demo["citizen"])
    text = pdf_text(write(tmp_path, content))

    # A character without a glyph is drawn as .notdef, which WeasyPrint logs.
    assert [record.getMessage() for record in caplog.records] == []
    assert "🎉" in text
    assert "👍" in text
    assert THAI in text
    assert "\ufffd" not in text


def test_thousand_messages_and_fifty_attachments_paginate(demo, tmp_path):
    operator, citizen = demo["operator"], demo["citizen"]
    consultation = services.create_consultation(
        citizen, service_code="GEN", subject="Долгая переписка", description="Начало."
    )
    services.transition(operator, consultation.pk, action="take")
    for number in range(1, 1001):
        services.add_message(
            operator if number % 2 else citizen,
            consultation.pk,
            text=f"Сообщение № {number} в переписке.",
            visibility="public",
        )
    for number in range(1, 51):
        add_attachment(
            citizen,
            consultation.pk,
            SimpleUploadedFile(
                f"документ-{number:02}.pdf",
                b"%PDF-1.7 scan " + str(number).encode(),
                content_type="application/pdf",
            ),
        )
    save_protocol(
        operator,
        consultation.pk,
        question="Вопрос",
        recommendations="Ответ",
        decision="Решение по долгой переписке.",
        decision_reason="Основание",
    )
    consultation.refresh_from_db()

    path = write(tmp_path, citizen_copy(consultation, citizen))
    text = pdf_text(path)
    info = run_tool("pdfinfo", path).stdout

    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE).group(1))
    assert pages > 40
    assert contains_words(text, f"Страница {pages} из {pages}")
    for number in (1, 500, 1000):
        assert contains_words(text, f"Сообщение № {number} в переписке.")
    for number in range(1, 51):
        assert f"документ-{number:02}.pdf" in text
    assert contains_words(text, "Решение по долгой переписке.")
