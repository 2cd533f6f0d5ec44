"""The signed document of a protocol version: RFC 8785 canonical JSON."""

import hashlib

import rfc8785
from django.conf import settings

from protokol.journal.canonical import format_time

DOCUMENT_FORMAT = "protokol.protocol/v1"
PROTOCOL_FIELDS = (
    "question",
    "documents",
    "recommendations",
    "decision",
    "decision_reason",
)


def protocol_document(consultation, version, *, until=None) -> bytes:
    """Return the canonical JSON that a signature over `version` covers.

    It contains the protocol's text in full and, for every message and
    attachment of the consultation, its metadata and SHA-256, so the
    signature fixes the dialogue and the files without copying them.
    With `until`, only the messages and attachments created at or before
    that time count, as when a superseded version was signed.
    """
    messages = consultation.messages.order_by("created_at", "id")
    attachments = consultation.attachments.order_by("created_at", "id")
    if until is not None:
        messages = messages.filter(created_at__lte=until)
        attachments = attachments.filter(created_at__lte=until)

    protocol = {name: getattr(version, name) for name in PROTOCOL_FIELDS}
    protocol.update(
        version=version.version,
        author_name=version.author_name,
        created_at=format_time(version.created_at),
    )
    messages = [
        {
            "id": message.pk,
            "created_at": format_time(message.created_at),
            "author_name": message.author_name,
            "author_role": message.author_role,
            "visibility": message.visibility,
            "sha256": hashlib.sha256(message.text.encode()).hexdigest(),
        }
        for message in messages
    ]
    attachments = [
        {
            "id": attachment.pk,
            "created_at": format_time(attachment.created_at),
            "name": attachment.original_name,
            "content_type": attachment.content_type,
            "size": attachment.size,
            "sha256": attachment.sha256,
        }
        for attachment in attachments
    ]
    document = {
        "format": DOCUMENT_FORMAT,
        "organisation": settings.CONFIG.organisation_name,
        "consultation": {
            "id": consultation.pk,
            "number": consultation.number,
            "subject": consultation.subject,
        },
        "protocol": protocol,
        "messages": messages,
        "attachments": attachments,
    }
    return rfc8785.dumps(document)
