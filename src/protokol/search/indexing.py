"""Building and storing the search documents of consultations."""

from collections import defaultdict
from collections.abc import Iterable

import structlog
from django.apps import apps as global_apps
from django.db import connection
from django.utils import timezone

from protokol.search.text import fold, stems

log = structlog.get_logger(__name__)

# NOTE: each column is cut at this many characters, far above a real
# consultation's text, so that PostgreSQL's 1 MB tsvector limit is never hit.
# Words past the cut are not found. Remove when messages are indexed as rows.
MAX_COLUMN_CHARS = 200_000
PROTOCOL_FIELDS = ("question", "documents", "recommendations", "decision")


def stored_form(text: str, vendor: str | None = None) -> str:
    """Return `text` as the search columns store it on the current database."""
    vendor = vendor or connection.vendor
    if vendor == "sqlite":
        return " ".join(stems(text))[:MAX_COLUMN_CHARS]
    return fold(text)[:MAX_COLUMN_CHARS]


def build_documents(consultation_ids: Iterable[int], *, apps=global_apps) -> list:
    """Return unsaved SearchDocument rows for the given consultations.

    `apps` is the app registry to take models from; migrations pass their
    historical one, so the backfill reads the tables as they were then.
    """
    consultation_model = apps.get_model("consultations", "Consultation")
    message_model = apps.get_model("consultations", "Message")
    version_model = apps.get_model("protocols", "ProtocolVersion")
    document_model = apps.get_model("search", "SearchDocument")
    ids = list(consultation_ids)

    public = defaultdict(list)
    internal = defaultdict(list)
    heads = consultation_model.objects.filter(pk__in=ids).values_list(
        "pk", "number", "subject", "description"
    )
    for pk, number, subject, description in heads:
        public[pk] += [number, subject, description]

    # Only the latest version: the citizen and staff see that one on the page.
    # It precedes the messages, so that a new message goes at the end of the
    # column and append_message gives the text that a rebuild gives.
    latest = {}
    versions = version_model.objects.filter(consultation_id__in=ids).order_by(
        "consultation_id", "version"
    )
    for row in versions.values("consultation_id", *PROTOCOL_FIELDS):
        latest[row["consultation_id"]] = [row[name] for name in PROTOCOL_FIELDS]
    for consultation_id, texts in latest.items():
        public[consultation_id] += texts

    messages = message_model.objects.filter(consultation_id__in=ids).order_by(
        "consultation_id", "created_at", "id"
    )
    for consultation_id, text, visibility in messages.values_list(
        "consultation_id", "text", "visibility"
    ):
        target = public if visibility == "public" else internal
        target[consultation_id].append(text)

    now = timezone.now()
    vendor = connection.vendor
    return [
        document_model(
            consultation_id=pk,
            public_text=stored_form("\n".join(public[pk]), vendor),
            internal_text=stored_form("\n".join(internal[pk]), vendor),
            updated_at=now,
        )
        for pk in ids
        if pk in public
    ]


def index_consultations(
    consultation_ids: Iterable[int], *, apps=global_apps, batch_size: int = 500
) -> int:
    """Write or replace the search documents of the consultations; return the count.

    Call it inside the transaction that changed them, so the index never shows
    a state that was rolled back.
    """
    document_model = apps.get_model("search", "SearchDocument")
    ids = list(dict.fromkeys(consultation_ids))
    written = 0
    for start in range(0, len(ids), batch_size):
        documents = build_documents(ids[start : start + batch_size], apps=apps)
        document_model.objects.bulk_create(
            documents,
            update_conflicts=True,
            unique_fields=["consultation"],
            update_fields=["public_text", "internal_text", "updated_at"],
        )
        written += len(documents)
    return written


def index_new_consultation(consultation) -> None:
    """Write the search document of a consultation that was just inserted.

    It has no protocol versions or messages yet, so the document contains its
    number, subject and description, as index_consultations would write,
    without reading them back.
    """
    document_model = global_apps.get_model("search", "SearchDocument")
    head = [consultation.number, consultation.subject, consultation.description]
    document_model.objects.bulk_create(
        [
            document_model(
                consultation_id=consultation.pk,
                public_text=stored_form("\n".join(head)),
                internal_text=stored_form(""),
                updated_at=timezone.now(),
            )
        ],
        update_conflicts=True,
        unique_fields=["consultation"],
        update_fields=["public_text", "internal_text", "updated_at"],
    )


def append_message(consultation_id: int, text: str, visibility: str) -> None:
    """Add a new message's text to the end of its consultation's search document.

    One UPDATE writes what index_consultations would write, because a rebuild
    puts the messages last, in creation order. The document is rebuilt
    instead when it is missing or the column would exceed MAX_COLUMN_CHARS.
    A document written with the protocol text after the messages keeps that
    order, with the same words, until its next rebuild. Call it inside the
    transaction that inserted the message.
    """
    vendor = connection.vendor
    addition = stored_form(text, vendor)
    if not addition:
        # On SQLite a text without words stores nothing, as in a rebuild.
        return

    # A rebuild joins the texts with a newline, which SQLite's stored form
    # turns into the single space between stems.
    separator = " " if vendor == "sqlite" else "\n"
    column = "public_text" if visibility == "public" else "internal_text"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE search_document SET {column} = {column}"
            f" || CASE WHEN {column} = '' THEN '' ELSE %s END || %s,"
            " updated_at = %s"
            " WHERE consultation_id = %s"
            f" AND length({column}) + CASE WHEN {column} = '' THEN 0 ELSE 1 END"
            " + %s <= %s",
            [
                separator,
                addition,
                timezone.now(),
                consultation_id,
                len(addition),
                MAX_COLUMN_CHARS,
            ],
        )
        appended = cursor.rowcount == 1
    if not appended:
        index_consultations([consultation_id])


def reindex_all(*, apps=global_apps, batch_size: int = 500) -> int:
    """Rebuild the search document of every consultation; return the count."""
    consultation_model = apps.get_model("consultations", "Consultation")
    ids = consultation_model.objects.order_by("pk").values_list("pk", flat=True)
    written = index_consultations(ids.iterator(), apps=apps, batch_size=batch_size)
    log.info("search_reindexed", documents=written)
    return written
