"""render_protocol_pdf checked with the real poppler and qpdf tools."""

import ctypes.util
import logging
import re
from datetime import UTC, datetime

import pytest

from protokol.consultations import services
from protokol.consultations.presenters import consultation_detail
from protokol.disputes import services as disputes
from protokol.documents import pdf
from protokol.documents.pdf import render_protocol_pdf
from protokol.protocols.services import add_addendum, save_protocol

from .pdf_tools import (
    CITIZEN_MESSAGE,
    DECISION,
    DECISION_REASON,
    INTERNAL_NOTE,
    OPERATOR_ANSWER,
    contains_words,
    expanded_pdf,
    pdf_text,
    run_tool,
)

SUBJECT = "Пособие на ребёнка"


def citizen_copy(consultation, viewer, *, language="ru") -> bytes:
    """Render the copy as issue_copy does: public messages only."""
    detail = consultation_detail(consultation, viewer, public_only=True)
    return render_protocol_pdf(detail, language=language)


def write(tmp_path, content: bytes, name="copy.pdf"):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_render_signed_copy_text(signed_consultation, demo, tmp_path):
    path = write(tmp_path, citizen_copy(signed_consultation, demo["citizen"]))
    text = pdf_text(path)

    assert contains_words(text, SUBJECT)
    assert contains_words(text, CITIZEN_MESSAGE)
    assert contains_words(text, OPERATOR_ANSWER)
    assert contains_words(text, DECISION)
    assert contains_words(text, DECISION_REASON)
    assert contains_words(text, "Контакт-центр государственных услуг")
    assert signed_consultation.number in text
    assert contains_words(text, "Ольга Смирнова (оператор)")
    assert contains_words(text, "Роман Кузнецов (специалист отдела)")
    assert contains_words(text, "свидетельство о рождении.pdf")
    assert contains_words(text, "Ответ полный.")
    assert "МСК" in text
    assert contains_words(text, "Страница 1 из 2")


def test_render_times_in_moscow(signed_consultation, demo, tmp_path):
    path = write(tmp_path, citizen_copy(signed_consultation, demo["citizen"]))
    created = signed_consultation.created_at.astimezone(pdf.DISPLAY_ZONE)

    assert contains_words(pdf_text(path), created.strftime("%d.%m.%Y %H:%M МСК"))


def test_render_omits_internal_messages(signed_consultation, demo, tmp_path):
    # The operator may read internal notes, but the citizen's copy drops them.
    path = write(tmp_path, citizen_copy(signed_consultation, demo["operator"]))
    text = pdf_text(path)

    assert not contains_words(text, INTERNAL_NOTE)
    assert "Служебная" not in text
    assert contains_words(text, OPERATOR_ANSWER)


def test_render_drops_internal_from_staff_detail(signed_consultation, demo, tmp_path):
    # Staff see internal notes in their detail, yet the copy still leaves them out.
    detail = consultation_detail(signed_consultation, demo["operator"])
    assert any(m["visibility"] == "internal" for m in detail["messages"])

    content = render_protocol_pdf(detail, language="ru")
    text = pdf_text(write(tmp_path, content))

    assert not contains_words(text, INTERNAL_NOTE)
    assert contains_words(text, OPERATOR_ANSWER)


def test_render_english_labels(signed_consultation, demo, tmp_path):
    content = citizen_copy(signed_consultation, demo["citizen"], language="en")
    text = pdf_text(write(tmp_path, content))

    assert contains_words(text, "Consultation protocol")
    assert contains_words(text, "Status history")
    assert contains_words(text, "Reason for the decision")
    assert contains_words(text, "General consultation")
    assert contains_words(text, "Page 1 of 2")
    assert "MSK" in text
    assert "История статусов" not in text
    assert "Страница" not in text
    # User content stays in the language it was written in.
    assert contains_words(text, DECISION)


def test_render_without_protocol(consultation, demo, tmp_path):
    path = write(tmp_path, citizen_copy(consultation, demo["citizen"]))
    text = pdf_text(path)

    assert contains_words(text, "Протокол ещё не сохранён.")
    assert contains_words(text, "Сообщений нет.")
    assert contains_words(text, "Статус не менялся.")


def test_render_without_protocol_english(consultation, demo, tmp_path):
    content = citizen_copy(consultation, demo["citizen"], language="en")

    assert contains_words(
        pdf_text(write(tmp_path, content)), "No protocol has been saved yet."
    )


def test_render_addenda_after_original(signed_consultation, demo, tmp_path):
    services.transition(
        demo["citizen"],
        signed_consultation.pk,
        action="dispute",
        comment="Не согласна с ответом о справке.",
    )
    services.transition(
        demo["supervisor"],
        signed_consultation.pk,
        action="conclude",
        comment="Ответ оператора подтверждён экспертом.",
    )
    signed_consultation.refresh_from_db()
    text = pdf_text(write(tmp_path, citizen_copy(signed_consultation, demo["citizen"])))
    flat = " ".join(text.split())

    assert "Дополнения к протоколу" in flat
    assert "Заключение по спору" in flat
    assert flat.index(DECISION) < flat.index("Дополнения к протоколу")
    assert flat.index("История статусов") < flat.index("Дополнения к протоколу")
    assert flat.rindex("Ответ оператора подтверждён экспертом.") > flat.index(
        "Дополнения к протоколу"
    )


@pytest.mark.parametrize(
    ("language", "label"), [("ru", "Заключение эксперта"), ("en", "Expert conclusion")]
)
def test_render_expert_conclusion_label(
    signed_consultation, demo, tmp_path, language, label
):
    add_addendum(
        demo["supervisor"],
        signed_consultation,
        kind=disputes.ADDENDUM_KIND,
        text="Протокол соответствует диалогу.",
    )
    content = citizen_copy(signed_consultation, demo["citizen"], language=language)
    flat = " ".join(pdf_text(write(tmp_path, content)).split())

    assert label in flat
    assert disputes.ADDENDUM_KIND not in flat


def test_render_fonts_embedded(signed_consultation, demo, tmp_path):
    path = write(tmp_path, citizen_copy(signed_consultation, demo["citizen"]))
    result = run_tool("pdffonts", path)
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()[2:]

    assert rows, result.stdout
    for row in rows:
        columns = row.split()
        # Columns from the right: object id, generation, uni, sub, emb.
        assert columns[-5] == "yes", row
        assert "Protokol-PT-Sans" in columns[0], row


def test_render_qpdf_check_clean(signed_consultation, demo, tmp_path):
    path = write(tmp_path, citizen_copy(signed_consultation, demo["citizen"]))
    result = run_tool("qpdf", "--check", path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "No syntax or stream encoding errors found" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_render_declares_pdfa_3b(signed_consultation, demo, tmp_path):
    path = write(tmp_path, citizen_copy(signed_consultation, demo["citizen"]))
    result = run_tool("pdfinfo", "-meta", path)
    expanded = expanded_pdf(path)

    assert result.returncode == 0, result.stderr
    assert 'pdfaid:part="3"' in result.stdout
    assert 'pdfaid:conformance="B"' in result.stdout
    assert b'pdfaid:part="3"' in expanded
    assert b"/OutputIntents" in expanded
    assert b"/GTS_PDFA1" in expanded


def test_render_metadata_dates_in_utc(signed_consultation, demo, tmp_path):
    path = write(tmp_path, citizen_copy(signed_consultation, demo["citizen"]))
    result = run_tool("pdfinfo", "-meta", path)

    dates = re.findall(r"<xmp:CreateDate>([^<]+)</xmp:CreateDate>", result.stdout)
    assert len(dates) == 1, result.stdout
    assert dates[0].endswith("Z")
    assert re.search(rb"/CreationDate \(D:\d{14}Z\)", expanded_pdf(path))


def test_render_language_in_catalog(signed_consultation, demo, tmp_path):
    russian = write(tmp_path, citizen_copy(signed_consultation, demo["citizen"]))
    english = write(
        tmp_path,
        citizen_copy(signed_consultation, demo["citizen"], language="en"),
        name="english.pdf",
    )

    assert b"/Lang (ru)" in expanded_pdf(russian)
    assert b"/Lang (en)" in expanded_pdf(english)


def test_render_unknown_language_rejected(signed_consultation, demo):
    detail = consultation_detail(signed_consultation, demo["citizen"])

    with pytest.raises(ValueError, match="language"):
        render_protocol_pdf(detail, language="de")


def test_render_escapes_markup_in_user_text(consultation, demo, tmp_path, caplog):
    markup = '<img src="file:///etc/passwd"> <b>жирный</b> </style>'
    services.add_message(
        demo["citizen"], consultation.pk, text=markup, visibility="public"
    )

    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        content = citizen_copy(consultation, demo["citizen"])
    text = pdf_text(write(tmp_path, content))

    assert contains_words(text, markup)
    assert caplog.records == []


def test_render_harfbuzz_subsetting_without_warnings(signed_consultation, demo, caplog):
    from weasyprint.text.ffi import harfbuzz_subset

    # Without libharfbuzz-subset0, WeasyPrint subsets fonts with fontTools and
    # logs a warning, and a one-page render takes seconds instead of 0.1 s.
    assert harfbuzz_subset is not None, "install the Debian package libharfbuzz-subset0"
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        citizen_copy(signed_consultation, demo["citizen"])

    assert [record.getMessage() for record in caplog.records] == []


def test_harfbuzz_subsetting_is_available():
    # WeasyPrint subsets fonts with HarfBuzz when libharfbuzz-subset loads,
    # which renders two pages in about 0.1 s; the fontTools fallback takes
    # seconds. bench/pdf_bench.py measures the time itself.
    assert ctypes.util.find_library("harfbuzz-subset"), (
        "libharfbuzz-subset0 is missing: run make system-deps"
    )


def test_render_long_texts_paginate(demo, tmp_path):
    operator = demo["operator"]
    paragraph = "Текст обращения с подробным описанием обстоятельств дела. " * 6
    description = (paragraph.strip() + "\n") * 60
    description = description[:19_990] + " КОНЕЦ"
    consultation = services.create_consultation(
        demo["citizen"],
        service_code="GEN",
        subject="Длинное обращение",
        description=description,
    )
    services.transition(operator, consultation.pk, action="take")
    for number in range(1, 201):
        services.add_message(
            operator if number % 2 else demo["citizen"],
            consultation.pk,
            text=f"Сообщение номер {number} в переписке.",
            visibility="public",
        )
    token = "Щ" * 5_000
    save_protocol(
        operator,
        consultation.pk,
        question="Вопрос",
        recommendations=token,
        decision="Решение по длинному обращению.",
        decision_reason="Основание",
    )
    consultation.refresh_from_db()

    content = citizen_copy(consultation, demo["citizen"])
    path = write(tmp_path, content)
    text = pdf_text(path)
    info = run_tool("pdfinfo", path).stdout

    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE).group(1))
    assert pages > 10
    assert contains_words(text, "КОНЕЦ")
    assert contains_words(text, "Сообщение номер 1 в переписке.")
    assert contains_words(text, "Сообщение номер 200 в переписке.")
    assert contains_words(text, "Решение по длинному обращению.")
    # The unbroken token wraps across lines and pages without losing characters.
    # A page break puts the running header and footer inside it.
    assert text.count("Щ") == len(token)


class RecordingLogger:
    """Stand-in for the module's structlog logger that keeps warning events."""

    def __init__(self):
        self.warnings = []

    def warning(self, event, **fields):
        self.warnings.append((event, fields))


def test_render_uncovered_character_logged(consultation, demo, monkeypatch):
    # No installed font has the Mro script, so WeasyPrint draws .notdef, which
    # PDF/A forbids. The render still succeeds and the warning reaches the log.
    services.add_message(
        demo["citizen"],
        consultation.pk,
        text="Спасибо \U00016a40\U00016a41",
        visibility="public",
    )
    recorder = RecordingLogger()
    monkeypatch.setattr(pdf, "log", recorder)

    content = citizen_copy(consultation, demo["citizen"])

    assert content.startswith(b"%PDF-")
    events = [event for event, _ in recorder.warnings]
    assert events == ["protocol_pdf_render_warning"] * 2
    fields = recorder.warnings[0][1]
    assert fields["consultation_id"] == consultation.pk
    assert "U+16A40" in fields["message"]


def test_format_time_moscow():
    labels = pdf.LABELS["ru"]
    value = datetime(2026, 3, 12, 11, 5, tzinfo=UTC)

    assert pdf.format_time(value, labels) == "12.03.2026 14:05 МСК"
    assert pdf.format_time(value, pdf.LABELS["en"]) == "2026-03-12 14:05 MSK"
    assert pdf.format_time(None, labels) == "—"


@pytest.mark.parametrize(
    ("size", "language", "expected"),
    [
        (13, "ru", "13 Б"),
        (1536, "ru", "1,5 КБ"),
        (1536, "en", "1.5 KB"),
        (20 * 1024 * 1024, "en", "20.0 MB"),
    ],
)
def test_format_size(size, language, expected):
    assert pdf.format_size(size, pdf.LABELS[language]) == expected


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        (pdf.FONTS_DIR.joinpath("PTS55F.ttf").as_uri(), True),
        (pdf.FONTS_DIR.joinpath("missing.ttf").as_uri(), False),
        (pdf.FONTS_DIR.joinpath("..", "pdf.py").as_uri(), False),
        ("file:///etc/passwd", False),
        ("http://127.0.0.1:9/font.ttf", False),
        ("data:font/ttf;base64,AAAA", False),
    ],
)
def test_bundled_font_url(url, allowed):
    assert pdf.is_bundled_font_url(url) is allowed


def test_label_sets_match():
    ru, en = pdf.LABELS["ru"], pdf.LABELS["en"]

    assert ru.keys() == en.keys()
    for key, value in ru.items():
        if isinstance(value, dict):
            assert value.keys() == en[key].keys(), key


def test_compressed_stream_built_once():
    import pydyf

    class PageStream(pydyf.Stream):
        """A subclass, as WeasyPrint's page contents are."""

    document = pydyf.PDF()
    stream = pydyf.Stream([b"BT /F1 12 Tf (text) Tj ET"] * 50, compress=True)
    page = PageStream([b"0 0 m 10 10 l S"] * 50, compress=True)
    plain = pydyf.Stream([b"raw"], compress=False)
    for pdf_object in (stream, page, plain):
        document.add_object(pdf_object)
    expected = (stream.data, page.data)

    pdf._compress_streams_once(document)

    assert (stream.data, page.data) == expected
    assert stream.data is stream.data
    assert page.data is page.data
    assert isinstance(page, PageStream)
    assert type(plain) is pydyf.Stream
