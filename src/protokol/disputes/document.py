"""The signed document of an expert's conclusion: RFC 8785 canonical JSON."""

import hashlib

import rfc8785
from django.conf import settings

from protokol.journal.canonical import format_time

DOCUMENT_FORMAT = "protokol.dispute-conclusion/v1"


def conclusion_document(dispute, *, text: str, author, created_at, signed) -> bytes:
    """Return the canonical JSON that the conclusion's signatures cover.

    It names the disputed protocol version and the SHA-256 of the document
    its signatures cover (`signed`, a list of hex digests), so the conclusion
    is bound to the original without changing it. The claims are included
    as their SHA-256 only.
    """
    consultation = dispute.consultation
    document = {
        "format": DOCUMENT_FORMAT,
        "organisation": settings.CONFIG.organisation_name,
        "consultation": {
            "id": consultation.pk,
            "number": consultation.number,
            "subject": consultation.subject,
        },
        "dispute": {
            "id": dispute.pk,
            "opened_at": format_time(dispute.opened_at),
            "claims_sha256": hashlib.sha256(dispute.claims.encode()).hexdigest(),
            "protocol_version": dispute.protocol_version,
            "protocol_signed_data_sha256": sorted(set(signed)),
        },
        "conclusion": {
            "text": text,
            "expert_name": author.display_name,
            "created_at": format_time(created_at),
        },
    }
    return rfc8785.dumps(document)
