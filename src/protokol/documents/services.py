"""Issuing protocol copies: authorization, rendering and the journal entry."""

from django.utils.translation import gettext

from protokol.consultations.presenters import consultation_detail
from protokol.consultations.services import get_visible
from protokol.errors import ValidationFailed
from protokol.journal import services as journal
from protokol.journal.models import JournalAction

LANGUAGES = ("ru", "en")


def issue_copy(actor, consultation_id, *, language: str = "ru") -> tuple[str, bytes]:
    """Render the protocol copy for `actor` and journal the issuance.

    Returns the download file name and the PDF bytes.
    """
    from protokol.documents.pdf import render_protocol_pdf

    if language not in LANGUAGES:
        raise ValidationFailed(gettext("lang must be 'ru' or 'en'."), field="lang")
    consultation = get_visible(actor, consultation_id)
    detail = consultation_detail(consultation, actor, public_only=True)
    content = render_protocol_pdf(detail, language=language)

    journal.record_now(
        JournalAction.COPY_READ,
        actor=actor,
        object_type="consultation",
        object_id=consultation.pk,
        object_label=consultation.number,
        consultation_id=consultation.pk,
        after={"language": language, "bytes": len(content)},
    )
    return f"protocol-{consultation.pk}-{language}.pdf", content
