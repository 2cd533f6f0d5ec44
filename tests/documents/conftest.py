"""A consultation carried through the lifecycle up to a signed protocol."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from protokol.consultations import services
from protokol.consultations.attachments import add_attachment
from protokol.protocols.services import save_protocol

from .pdf_tools import (
    CITIZEN_MESSAGE,
    DECISION,
    DECISION_REASON,
    INTERNAL_NOTE,
    OPERATOR_ANSWER,
)


@pytest.fixture
def signed_consultation(demo, consultation):
    """The demo consultation with a dialogue, a file, a protocol and a signature."""
    operator, reviewer = demo["operator"], demo["reviewer"]
    services.transition(operator, consultation.pk, action="take")

    services.add_message(
        demo["citizen"], consultation.pk, text=CITIZEN_MESSAGE, visibility="public"
    )
    services.add_message(
        operator, consultation.pk, text=OPERATOR_ANSWER, visibility="public"
    )
    services.add_message(
        operator, consultation.pk, text=INTERNAL_NOTE, visibility="internal"
    )
    add_attachment(
        demo["citizen"],
        consultation.pk,
        SimpleUploadedFile(
            "свидетельство о рождении.pdf",
            b"%PDF-1.7 scan",
            content_type="application/pdf",
        ),
    )

    save_protocol(
        operator,
        consultation.pk,
        question="Какие документы нужны для оформления пособия на ребёнка?",
        documents="Свидетельство о рождении ребёнка, паспорт заявителя.",
        recommendations="Подать заявление через личный кабинет или в МФЦ.",
        decision=DECISION,
        decision_reason=DECISION_REASON,
    )
    services.transition(operator, consultation.pk, action="submit")
    services.transition(
        reviewer, consultation.pk, action="approve", comment="Ответ полный."
    )
    services.transition(reviewer, consultation.pk, action="sign")

    consultation.refresh_from_db()
    return consultation
