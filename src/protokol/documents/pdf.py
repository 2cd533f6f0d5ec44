"""Rendering of the citizen's protocol copy as a PDF/A-3b document with WeasyPrint."""

import atexit
import functools
import io
import logging
import string
import threading
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import quoteattr
from zoneinfo import ZoneInfo

import structlog
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.safestring import mark_safe

from protokol.consultations.lifecycle import SEALED_STATUSES
from protokol.imports.portal_facts import portal_facts

log = structlog.get_logger(__name__)

FONTS_DIR = Path(__file__).resolve().parent / "fonts"
DISPLAY_ZONE = ZoneInfo("Europe/Moscow")
PDF_VARIANT = "pdf/a-3b"
# Distinct WeasyPrint warnings logged per render. Beyond it they are only counted.
MAX_LOGGED_WARNINGS = 10

LABELS = {
    "ru": {
        "document_title": "Протокол консультации",
        "draft_title": "Проект протокола консультации",
        "draft_banner": "ПРОЕКТ — не подписан",
        "draft_note": (
            "Протокол ещё не подписан: это проект, а не окончательный документ."
        ),
        "unsigned_note": (
            "Копия без электронной подписи: консультация закрыта без подписания"
            " протокола, поэтому подлинность копии проверить нельзя."
        ),
        "page": "Страница",
        "page_of": "из",
        "time_zone_note": ("Время указано московское (МСК, Europe/Moscow, UTC+03:00)."),
        "zone_abbreviation": "МСК",
        "time_format": "%d.%m.%Y %H:%M",
        "issued_at": "Копия выдана",
        "verify_note": "Проверка подлинности копии",
        "verification_code": "Код проверки",
        "seal_stamp": "Подписано электронной печатью\n%(signer)s\nВремя: %(ts)s",
        "not_set": "—",
        "section_summary": "Сведения о консультации",
        "status": "Статус",
        "service": "Услуга",
        "department": "Подразделение",
        "channel": "Канал обращения",
        "district": "Район",
        "created_at": "Зарегистрирована",
        "deadline": "Срок рассмотрения",
        "closed_at": "Закрыта",
        "section_participants": "Участники",
        "citizen": "Заявитель",
        "assignee": "Исполнитель",
        "protocol_author": "Автор протокола",
        "section_request": "Обращение",
        "subject": "Тема",
        "description": "Описание",
        "section_collected": "Собранные данные",
        "collected_masked": (
            "Персональные данные скрыты, кроме двух последних цифр идентификаторов."
        ),
        "collected_full": "Персональные данные приведены полностью.",
        "not_given": "не представлено",
        "no_collected": "Для услуги не требуется сведений о заявителе.",
        "data_requests": "Запросы данных",
        "no_data_requests": "Данные не запрашивались.",
        "request_open": "ожидает ответа",
        "request_answered": "данные представлены {time}",
        "section_dialogue": "Переписка",
        "no_messages": "Сообщений нет.",
        "section_documents": "Представленные документы",
        "file_name": "Файл",
        "file_size": "Размер",
        "file_added": "Добавлен",
        "no_documents": "Документы не представлялись.",
        "size_units": ("Б", "КБ", "МБ", "ГБ"),
        "decimal_separator": ",",
        "section_protocol": "Протокол",
        "protocol_version": "Версия",
        "question": "Вопрос",
        "recommendations": "Рекомендации и ответ",
        "decision": "Решение",
        "decision_reason": "Основание решения",
        "no_protocol": "Протокол ещё не сохранён.",
        "no_protocol_portal": (
            "Протокол не составлялся: ответ дан в переписке на городском портале."
        ),
        "department_responsible": "{department} (отвечает подразделение)",
        "portal_status_change": "«{portal_status}», {status}",
        "section_history": "История статусов",
        "no_transitions": "Статус не менялся.",
        "status_change": "из «{source}» в «{target}»",
        "section_addenda": "Дополнения к протоколу",
        "section_signatures": "Подписи",
        "signature_kinds": {
            "signer": "Подпись должностного лица",
            "seal": "Электронная печать организации",
        },
        "signer": "Подписант",
        "certificate_subject": "Владелец сертификата",
        "certificate_serial": "Серийный номер сертификата",
        "signing_time": "Время подписания (по метке времени)",
        "journal_entry": "Запись журнала",
        "checkpoint": "Контрольная точка журнала",
        "checkpoint_size": "размер дерева {size}",
        "checkpoint_root": "Корень дерева (SHA-256)",
        "roles": {
            "citizen": "гражданин",
            "operator": "оператор",
            "reviewer": "специалист отдела",
            "supervisor": "руководитель",
            "auditor": "аудитор",
            "admin": "администратор",
            "moderator": "модератор портала",
            "system": "система",
        },
        "statuses": {
            "initiated": "зарегистрирована",
            "data_requested": "запрошены данные",
            "drafting": "подготовка протокола",
            "in_review": "на согласовании",
            "approved": "согласована",
            "signed": "подписана",
            "archived": "в архиве",
            "withdrawn": "отозвана",
            "disputed": "оспорена",
        },
        "actions": {
            "take": "взята в работу",
            "request_data": "запрошены данные",
            "provide_data": "данные представлены",
            "submit": "передана на согласование",
            "return": "возвращена на доработку",
            "approve": "согласована",
            "sign": "подписана",
            "archive": "передана в архив",
            "withdraw": "отозвана заявителем",
            "dispute": "оспорена заявителем",
            "conclude": "вынесено заключение",
            "reopen": "возобновлена",
            "forward": "переадресована",
            "portal_status": "статус на портале",
            "change_deadline": "срок изменён",
            "change_category": "категория изменена",
            "portal_note": "отметка портала",
        },
        "channels": {
            "web": "личный кабинет",
            "api": "API",
            "phone": "телефон",
            "mfc": "МФЦ",
            "portal": "городской портал",
        },
        "addendum_kinds": {
            "conclusion": "Заключение по спору",
            "correction": "Исправление",
            "expert_conclusion": "Заключение эксперта",
        },
    },
    "en": {
        "document_title": "Consultation protocol",
        "draft_title": "Draft consultation protocol",
        "draft_banner": "DRAFT — not signed",
        "draft_note": (
            "The protocol is not signed yet: this is a draft, not the final document."
        ),
        "unsigned_note": (
            "Copy without an electronic signature: the consultation was closed"
            " without a signed protocol, so the copy cannot be verified."
        ),
        "page": "Page",
        "page_of": "of",
        "time_zone_note": "Times are Moscow time (MSK, Europe/Moscow, UTC+03:00).",
        "zone_abbreviation": "MSK",
        "time_format": "%Y-%m-%d %H:%M",
        "issued_at": "Copy issued",
        "verify_note": "Checking that the copy is authentic",
        "verification_code": "Verification code",
        "seal_stamp": "Sealed electronically\n%(signer)s\nTime: %(ts)s",
        "not_set": "—",
        "section_summary": "Consultation",
        "status": "Status",
        "service": "Service",
        "department": "Department",
        "channel": "Channel",
        "district": "District",
        "created_at": "Registered",
        "deadline": "Processing deadline",
        "closed_at": "Closed",
        "section_participants": "Participants",
        "citizen": "Applicant",
        "assignee": "Assignee",
        "protocol_author": "Protocol author",
        "section_request": "Request",
        "subject": "Subject",
        "description": "Description",
        "section_collected": "Collected data",
        "collected_masked": (
            "Personal data are hidden except the last two digits of identifiers."
        ),
        "collected_full": "Personal data are shown in full.",
        "not_given": "not provided",
        "no_collected": "The service requires no data about the applicant.",
        "data_requests": "Data requests",
        "no_data_requests": "No data were requested.",
        "request_open": "awaiting an answer",
        "request_answered": "data provided {time}",
        "section_dialogue": "Dialogue",
        "no_messages": "No messages.",
        "section_documents": "Documents provided",
        "file_name": "File",
        "file_size": "Size",
        "file_added": "Added",
        "no_documents": "No documents were provided.",
        "size_units": ("B", "KB", "MB", "GB"),
        "decimal_separator": ".",
        "section_protocol": "Protocol",
        "protocol_version": "Version",
        "question": "Question",
        "recommendations": "Recommendations and answer",
        "decision": "Decision",
        "decision_reason": "Reason for the decision",
        "no_protocol": "No protocol has been saved yet.",
        "no_protocol_portal": (
            "No protocol was drawn up: the answer was given in the dialogue "
            "on the city portal."
        ),
        "department_responsible": "{department} (the department is responsible)",
        "portal_status_change": "“{portal_status}”, {status}",
        "section_history": "Status history",
        "no_transitions": "The status has not changed.",
        "status_change": "from “{source}” to “{target}”",
        "section_addenda": "Addenda to the protocol",
        "section_signatures": "Signatures",
        "signature_kinds": {
            "signer": "Signature of the official",
            "seal": "Organisation seal",
        },
        "signer": "Signer",
        "certificate_subject": "Certificate subject",
        "certificate_serial": "Certificate serial number",
        "signing_time": "Signing time (from the timestamp)",
        "journal_entry": "Journal entry",
        "checkpoint": "Journal checkpoint",
        "checkpoint_size": "tree size {size}",
        "checkpoint_root": "Tree root (SHA-256)",
        "roles": {
            "citizen": "citizen",
            "operator": "operator",
            "reviewer": "department specialist",
            "supervisor": "supervisor",
            "auditor": "auditor",
            "admin": "administrator",
            "moderator": "portal moderator",
            "system": "system",
        },
        "statuses": {
            "initiated": "registered",
            "data_requested": "data requested",
            "drafting": "drafting the protocol",
            "in_review": "in review",
            "approved": "approved",
            "signed": "signed",
            "archived": "archived",
            "withdrawn": "withdrawn",
            "disputed": "disputed",
        },
        "actions": {
            "take": "taken",
            "request_data": "data requested",
            "provide_data": "data provided",
            "submit": "submitted for review",
            "return": "returned for rework",
            "approve": "approved",
            "sign": "signed",
            "archive": "archived",
            "withdraw": "withdrawn by the applicant",
            "dispute": "disputed by the applicant",
            "conclude": "dispute concluded",
            "reopen": "reopened",
            "forward": "forwarded",
            "portal_status": "portal status",
            "change_deadline": "deadline changed",
            "change_category": "category changed",
            "portal_note": "portal note",
        },
        "channels": {
            "web": "personal account",
            "api": "API",
            "phone": "phone",
            "mfc": "MFC",
            "portal": "city portal",
        },
        "addendum_kinds": {
            "conclusion": "Dispute conclusion",
            "correction": "Correction",
            "expert_conclusion": "Expert conclusion",
        },
    },
}


def render_protocol_pdf(detail: dict, *, language: str) -> bytes:
    """Render `detail` (from consultation_detail) as a PDF/A-3b copy in `language`.

    `language` is "ru" or "en", and any other value raises ValueError. The copy
    is the citizen's, so internal messages are left out even if `detail` has them.
    """
    return render_copy(detail, language=language).content


@dataclass(frozen=True)
class EmbeddedFile:
    """A file to embed as a PDF/A-3 associated file.

    `relationship` is the /AFRelationship name: "Source" for the data the
    document was made from, "Supplement" for what supports it.
    """

    name: str
    content: bytes
    description: str
    media_type: str
    relationship: str = "Supplement"


@dataclass(frozen=True)
class SignatureFacts:
    """What the copy prints about one signature over the embedded document.

    `signing_time` is the genTime of the signature's RFC 3161 token.
    """

    kind: str
    signer: str
    certificate_subject: str
    certificate_serial: str
    signing_time: datetime | None


@dataclass(frozen=True)
class JournalFacts:
    """The signing entry's journal index and the checkpoint whose tree has it."""

    index: int
    checkpoint_size: int
    root: str


@dataclass(frozen=True)
class RenderedCopy:
    """A rendered copy and the place kept free for the seal stamp.

    `seal_box` is (left, bottom, right, top) in PDF points on the last page,
    or None when the copy has no place for a stamp (no QR code).
    """

    content: bytes
    seal_box: tuple[float, float, float, float] | None


def render_copy(
    detail: dict,
    *,
    language: str,
    files: tuple[EmbeddedFile, ...] = (),
    verify_url: str | None = None,
    verification_code: str = "",
    signatures: tuple[SignatureFacts, ...] = (),
    journal_facts: JournalFacts | None = None,
    collected=None,
    producer: str | None = None,
) -> RenderedCopy:
    """Render the copy with associated files and a QR code of `verify_url`.

    `collected` is a documents.collected.CollectedSection; without it the
    copy has no section of collected data. `producer` replaces WeasyPrint's
    name in the Info and XMP Producer, so that they still agree after a
    signer writes its own name into the XMP, as PDF/A requires.

    A copy with a QR code (a signed protocol, never a draft) keeps an empty
    box at its end for the visible seal stamp, at `RenderedCopy.seal_box`.
    """
    # Importing WeasyPrint takes about half a second, paid only by processes
    # that render.
    from weasyprint import HTML, Attachment

    font_config, stylesheet, fetcher = _weasyprint_objects()
    html = copy_html(
        detail,
        language=language,
        verify_url=verify_url,
        verification_code=verification_code,
        signatures=signatures,
        journal_facts=journal_facts,
        collected=collected,
    )

    created = timezone.now().astimezone(UTC).replace(microsecond=0)
    # Without a fetcher, each Attachment builds a urllib opener of its own.
    attachments = [
        Attachment(
            file_obj=io.BytesIO(item.content),
            url_fetcher=fetcher,
            name=item.name,
            description=item.description,
            created=created,
            modified=created,
            relationship=item.relationship,
        )
        for item in files
    ]
    warnings: list[str] = []
    token = _render_warnings.set(warnings)
    try:
        document = HTML(string=html, url_fetcher=fetcher).render(
            stylesheets=[stylesheet], font_config=font_config
        )
        content = document.write_pdf(
            pdf_variant=PDF_VARIANT,
            attachments=attachments or None,
            finisher=functools.partial(
                _tidy_pdf,
                media_types={item.name: item.media_type for item in files},
                producer=producer,
            ),
        )
    finally:
        _render_warnings.reset(token)

    _log_warnings(warnings, consultation_id=detail["id"])
    seal_box = _seal_box(document.pages[-1])
    return RenderedCopy(content=content, seal_box=seal_box)


NAME_CHARACTERS = frozenset(string.ascii_letters + string.digits + ".+-_")


def _tidy_pdf(document, pdf, *, media_types: dict[str, str], producer) -> None:
    """Correct WeasyPrint's associated files and Producer before it writes `pdf`.

    WeasyPrint 70 lists each associated file twice in the catalog's /AF and
    guesses each file's media type from its name.
    """
    import pydyf
    import weasyprint

    if "AF" in pdf.catalog:
        pdf.catalog["AF"] = pydyf.Array(dict.fromkeys(pdf.catalog["AF"]))
    for pdf_object in pdf.objects:
        if not isinstance(pdf_object, dict) or pdf_object.get("Type") != "/Filespec":
            continue
        media_type = media_types.get(pdf_object["UF"].string)
        if media_type is not None:
            stream = pdf.objects[int(pdf_object["EF"]["F"].split()[0])]
            stream.extra["Subtype"] = _pdf_name(media_type)

    if producer is not None:
        pdf.info["Producer"] = pydyf.String(producer)
        metadata = pdf.objects[int(pdf.catalog["Metadata"].split()[0])]
        weasyprint_name = f'pdf:Producer="WeasyPrint {weasyprint.__version__}"'
        replaced = [
            part.replace(
                weasyprint_name.encode(),
                f"pdf:Producer={quoteattr(producer)}".encode(),
            )
            for part in metadata.stream
        ]
        if replaced == metadata.stream:
            raise RuntimeError(f"the XMP metadata has no {weasyprint_name}")
        metadata.stream = replaced

    _compress_streams_once(pdf)


def _compress_streams_once(pdf) -> None:
    """Make each compressed stream of `pdf` keep its data once it is built.

    pydyf compresses a stream every time its data is read, and for PDF/A it
    reads all of them twice: once to write them, once to hash them for the
    trailer /ID. Compressing again cost about 6 ms of a 10-message copy.
    Nothing changes a stream after the finisher, so the first result is final.
    """
    import pydyf

    for pdf_object in pdf.objects:
        if isinstance(pdf_object, pydyf.Stream) and pdf_object.compress:
            pdf_object.__class__ = _stream_with_kept_data(type(pdf_object))


@functools.cache
def _stream_with_kept_data(stream_class: type) -> type:
    """Return a subclass of a pydyf Stream class that keeps its data once built.

    WeasyPrint's page contents are its own subclass of pydyf's Stream, so
    each class gets its subclass.
    """
    build = stream_class.data.fget

    class StreamWithKeptData(stream_class):
        @functools.cached_property
        def data(self) -> bytes:
            return build(self)

    return StreamWithKeptData


def _pdf_name(text: str) -> str:
    """Return `text` as a PDF name, with #xx for each UTF-8 byte other than
    ASCII letters, digits and . + - _."""
    encoded = "".join(
        chr(byte) if chr(byte) in NAME_CHARACTERS else f"#{byte:02x}"
        for byte in text.encode()
    )
    return "/" + encoded


def copy_html(
    detail: dict,
    *,
    language: str,
    verify_url: str | None = None,
    verification_code: str = "",
    signatures: tuple[SignatureFacts, ...] = (),
    journal_facts: JournalFacts | None = None,
    collected=None,
) -> str:
    """Return the HTML that render_copy prints, for the same arguments."""
    if language not in LABELS:
        raise ValueError(f"language must be one of {sorted(LABELS)}, not {language!r}.")
    context = build_context(detail, language=language)
    if collected is not None:
        context["collected"] = collected_context(detail, collected, language)
    # A consultation archived without signing, such as an imported appeal.
    context["is_unsigned"] = verify_url is None and not context["is_draft"]
    if verify_url is not None and not context["is_draft"]:
        context["verification_code"] = verification_code
        context["verify_qr"] = mark_safe(qr_svg(verify_url))
        context["signatures"] = [
            _signature(facts, context["labels"]) for facts in signatures
        ]
        if journal_facts is not None:
            context["journal_facts"] = {
                "index": journal_facts.index,
                "checkpoint": context["labels"]["checkpoint_size"].format(
                    size=journal_facts.checkpoint_size
                ),
                "root": journal_facts.root,
            }
    with translation.override(language):
        return render_to_string("documents/protocol.html", context)


# CSS pixels are 1/96 inch, PDF points 1/72 inch.
POINTS_PER_PIXEL = 0.75
SEAL_ANCHOR = "seal-place"


def _seal_box(page) -> tuple[float, float, float, float] | None:
    """Return the PDF box of the seal place on `page`, from its anchor."""
    anchor = page.anchors.get(SEAL_ANCHOR)
    if anchor is None:
        return None
    x, y = anchor[0] * POINTS_PER_PIXEL, anchor[1] * POINTS_PER_PIXEL
    page_height = page.height * POINTS_PER_PIXEL
    top = page_height - y
    return (x, top - SEAL_HEIGHT_PT, x + SEAL_WIDTH_PT, top)


# Size of the seal stamp; protocol.css gives .seal-place the same size in mm.
SEAL_WIDTH_PT = 80 * 72 / 25.4
SEAL_HEIGHT_PT = 22 * 72 / 25.4


# Data mask of the QR code. By default segno scores all eight masks and
# keeps the one with the lowest penalty, which took 3.8 of 4.9 ms per code
# with segno 1.6.6. Any mask gives a valid code, because a reader takes the
# mask from the code's format information. segno chose mask 2 for 111 of
# 200 random verification URLs, and mask 4 for 83.
QR_MASK = 2


def qr_svg(url: str) -> str:
    """Return an inline SVG QR code of `url` (error correction M, no border)."""
    import segno

    return segno.make(url, error="m", micro=False, mask=QR_MASK).svg_inline(
        scale=1, border=0, omitsize=True
    )


def build_context(detail: dict, *, language: str) -> dict:
    """Return the template context: `detail` with labels and display-ready values."""
    labels = LABELS[language]
    is_draft = detail["status"] not in SEALED_STATUSES
    issued_at = timezone.now().replace(microsecond=0)
    protocol = detail["protocol"]
    if protocol is not None:
        protocol = {**protocol, "time": format_time(protocol["created_at"], labels)}
    public_messages = [
        message for message in detail["messages"] if message["visibility"] == "public"
    ]

    return {
        "language": language,
        "labels": labels,
        "is_draft": is_draft,
        "title": labels["draft_title"] if is_draft else labels["document_title"],
        # Safe for a <style> element: _css_string escapes quotes and "<".
        "draft_banner_css": mark_safe(_css_string(labels["draft_banner"])),
        "answered_on_portal": detail["channel"] == "portal",
        "page_counter_css": _page_counter_css(labels),
        "organisation": settings.CONFIG.organisation_name,
        "number": detail["number"],
        "issued_at": format_time(issued_at, labels),
        # WeasyPrint copies this into the PDF metadata. It is passed in UTC with
        # a "Z" suffix, so the Info and XMP dates name the same zone.
        "issued_at_utc": issued_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status": labels["statuses"].get(detail["status"], detail["status"]),
        "service": _service_name(detail["service"], language),
        "department": _department_name(detail["department"], language),
        "channel": labels["channels"].get(detail["channel"], detail["channel"]),
        "district": detail["district"],
        "created_at": format_time(detail["created_at"], labels),
        "deadline": format_time(detail["deadline"], labels),
        "closed_at": format_time(detail["closed_at"], labels),
        "participants": _participants(detail, labels, language),
        "subject": detail["subject"],
        "description": detail["description"],
        "messages": [
            {
                "time": format_time(message["created_at"], labels),
                "author": message["author"]["name"],
                "role": _role(message["author"]["role"], labels),
                "text": message["text"],
            }
            for message in public_messages
        ],
        "attachments": [
            {
                "name": attachment["name"],
                "size": format_size(attachment["size"], labels),
                "time": format_time(attachment["created_at"], labels),
                "sha256": attachment["sha256"],
            }
            for attachment in detail["attachments"]
        ],
        "protocol": protocol,
        "transitions": [
            _transition(transition, labels) for transition in detail["transitions"]
        ],
        "addenda": [
            {
                "time": format_time(addendum["created_at"], labels),
                "kind": labels["addendum_kinds"].get(
                    addendum["kind"], addendum["kind"]
                ),
                "author": addendum["author"],
                "text": addendum["text"],
            }
            for addendum in detail["addenda"]
        ],
    }


def collected_context(detail: dict, collected, language: str) -> dict:
    """Return the collected-data section: each required field and the data requests.

    A data request is answered by the first provide_data step after it, since
    the model records no other link between the two.
    """
    from protokol.personal.validators import field_label

    labels = LABELS[language]
    # Values of fields that the service no longer requires are printed too.
    names = list(collected.required)
    names += sorted(name for name in collected.values if name not in names)
    with translation.override(language):
        fields = [
            {
                "label": field_label(name),
                "value": collected.values.get(name, labels["not_given"]),
            }
            for name in names
        ]

    requests = []
    for transition in detail["transitions"]:
        if transition["action"] == "request_data":
            requests.append(
                {
                    "time": format_time(transition["created_at"], labels),
                    "actor": transition["actor"]["name"],
                    "role": _role(transition["actor"]["role"], labels),
                    "comment": transition["comment"],
                    "status": labels["request_open"],
                    "answered": False,
                }
            )
        elif transition["action"] == "provide_data":
            for request in requests:
                if not request["answered"]:
                    request["answered"] = True
                    request["status"] = labels["request_answered"].format(
                        time=format_time(transition["created_at"], labels)
                    )
    note = labels[
        "collected_full" if collected.variant == "full" else "collected_masked"
    ]
    return {"note": note, "fields": fields, "requests": requests}


def format_time(value: datetime | None, labels: dict) -> str:
    """Format an aware datetime in Moscow time with the zone named, or a dash."""
    if value is None:
        return labels["not_set"]
    local = value.astimezone(DISPLAY_ZONE)
    return f"{local.strftime(labels['time_format'])} {labels['zone_abbreviation']}"


def format_size(size: int, labels: dict) -> str:
    """Format a byte count with binary prefixes, e.g. "1,5 МБ" or "1.5 MB"."""
    units = labels["size_units"]
    value = float(size)
    unit = 0
    while value >= 1024 and unit < len(units) - 1:
        value /= 1024
        unit += 1
    if unit == 0:
        return f"{size} {units[0]}"
    number = f"{value:.1f}".replace(".", labels["decimal_separator"])
    return f"{number} {units[unit]}"


def _department_name(department: dict, language: str) -> str:
    if language == "en" and department["name_en"]:
        return department["name_en"]
    return department["name"]


def _service_name(service: dict, language: str) -> str:
    if language == "en" and service["name_en"]:
        return service["name_en"]
    return service["name"]


def _role(role: str, labels: dict) -> str:
    return labels["roles"].get(role, role)


def _participants(detail: dict, labels: dict, language: str) -> list[dict]:
    citizen = detail["citizen"]
    participants = [{"label": labels["citizen"], "text": citizen["name"]}]

    assignee = detail["assignee"]
    if assignee:
        text = f"{assignee['name']} ({_role(assignee['role'], labels)})"
    elif detail["channel"] == "portal":
        # Imported appeals have no assignee: the portal's organisation answered.
        text = labels["department_responsible"].format(
            department=_department_name(detail["department"], language)
        )
    else:
        text = labels["not_set"]
    participants.append({"label": labels["assignee"], "text": text})

    protocol = detail["protocol"]
    author = protocol["author"] if protocol else labels["not_set"]
    participants.append({"label": labels["protocol_author"], "text": author})
    return participants


def _transition(transition: dict, labels: dict) -> dict:
    statuses = labels["statuses"]
    source = statuses.get(transition["from_status"], transition["from_status"])
    target = statuses.get(transition["to_status"], transition["to_status"])
    # A forward keeps the status, so only the status itself is shown.
    if source == target:
        status_change = target
    else:
        status_change = labels["status_change"].format(source=source, target=target)
    details = transition.get("details") or {}
    portal_status = details.get("portal_status")
    if portal_status:
        status_change = labels["portal_status_change"].format(
            portal_status=portal_status, status=status_change
        )

    return {
        "time": format_time(transition["created_at"], labels),
        "action": labels["actions"].get(transition["action"], transition["action"]),
        "status_change": status_change,
        "actor": transition["actor"]["name"],
        "role": _role(transition["actor"]["role"], labels),
        "comment": transition["comment"],
        "facts": [
            fact
            for fact in portal_facts(transition["action"], details)
            if not portal_status
        ],
    }


def _signature(facts: SignatureFacts, labels: dict) -> dict:
    return {
        "kind": labels["signature_kinds"].get(facts.kind, facts.kind),
        "signer": facts.signer,
        "certificate_subject": facts.certificate_subject,
        "certificate_serial": facts.certificate_serial,
        "signing_time": format_time(facts.signing_time, labels),
    }


def _page_counter_css(labels: dict) -> str:
    """Return the CSS `content` value of the footer, e.g. "Page " counter(page)..."""
    page = _css_string(f"{labels['page']} ")
    of = _css_string(f" {labels['page_of']} ")
    # Safe for a <style> element: _css_string escapes quotes and "<".
    return mark_safe(f"{page} counter(page) {of} counter(pages)")


def _css_string(value: str) -> str:
    """Return `value` as a quoted CSS string, safe inside a <style> element."""
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\A ")
        .replace("<", "\\3C ")
    )
    return f'"{escaped}"'


# Building WeasyPrint's font configuration and parsing the stylesheet with its
# @font-face rules took about 25 ms of a 100 ms render on a 2-core machine, so
# each thread builds them once. WeasyPrint does not document these objects as
# safe to share between threads, so threads do not share them.
_thread_state = threading.local()


@atexit.register
def _release_weasyprint_objects() -> None:
    # FontConfiguration deletes its font folder in __del__, which fails when it
    # runs during interpreter shutdown after the modules it uses are gone.
    _thread_state.__dict__.pop("objects", None)


def _weasyprint_objects():
    state = getattr(_thread_state, "objects", None)
    if state is None:
        from weasyprint import CSS
        from weasyprint.text.fonts import FontConfiguration

        fetcher = _bundled_fonts_fetcher()
        font_config = FontConfiguration()
        css = render_to_string(
            "documents/protocol.css", {"fonts_url": FONTS_DIR.as_uri()}
        )
        stylesheet = CSS(string=css, font_config=font_config, url_fetcher=fetcher)
        state = _thread_state.objects = (font_config, stylesheet, fetcher)
    return state


def _bundled_fonts_fetcher():
    """Return a WeasyPrint URL fetcher that reads only the bundled font files.

    The copy needs no other resource, so an address in user text that slipped
    into the HTML cannot make the server read another file or open a connection.
    """
    from weasyprint.urls import URLFetcher

    class BundledFontsFetcher(URLFetcher):
        def fetch(self, url, headers=None):
            if not is_bundled_font_url(url):
                raise ValueError(f"Only the bundled fonts may be loaded, not {url}")
            return super().fetch(url, headers)

    return BundledFontsFetcher(allowed_protocols=["file"])


def is_bundled_font_url(url: str) -> bool:
    """Return whether `url` is a file:// URL of a file in the fonts directory."""
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        return False
    path = Path(unquote(parts.path)).resolve()
    return path.parent == FONTS_DIR and path.is_file()


# Warnings that WeasyPrint logs while rendering: a glyph drawn as .notdef
# (invalid in PDF/A), a blocked URL, or the slow fontTools subsetting fallback
# used when libharfbuzz-subset is missing.
_render_warnings: ContextVar[list[str] | None] = ContextVar(
    "render_warnings", default=None
)


class _RenderWarningCollector(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        collected = _render_warnings.get()
        if collected is not None:
            collected.append(record.getMessage())


def _log_warnings(warnings: list[str], *, consultation_id) -> None:
    for message in list(dict.fromkeys(warnings))[:MAX_LOGGED_WARNINGS]:
        log.warning(
            "protocol_pdf_render_warning",
            consultation_id=consultation_id,
            message=message,
        )
    if len(warnings) > MAX_LOGGED_WARNINGS:
        log.warning(
            "protocol_pdf_render_warnings_truncated",
            consultation_id=consultation_id,
            count=len(warnings),
        )


_weasyprint_logger = logging.getLogger("weasyprint")
_collector = _RenderWarningCollector(level=logging.WARNING)
if not any(isinstance(h, _RenderWarningCollector) for h in _weasyprint_logger.handlers):
    _weasyprint_logger.addHandler(_collector)
