"""Fixtures of the copy tests: a signed consultation, signed-in pages, large copies."""

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from protokol.consultations import services
from protokol.consultations.attachments import add_attachment
from protokol.protocols.services import save_protocol
from web.conftest import login_as  # noqa: F401 - the pages' signed-in client

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


@pytest.fixture
def background_above_one_byte(monkeypatch):
    """Send every copy with a message or an attachment to the background."""
    monkeypatch.setattr(settings.CONFIG, "copy_background_bytes", 1)
