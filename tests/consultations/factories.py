"""Consultations in a chosen status, made through the real service functions."""

from django.core.files.uploadedfile import SimpleUploadedFile

from protokol.consultations import services
from protokol.consultations.models import Consultation, Status
from protokol.protocols.services import save_protocol

PROTOCOL = {
    "question": "Какие документы нужны для оформления пособия?",
    "documents": "Паспорт, свидетельство о рождении ребёнка",
    "recommendations": "Подать заявление через МФЦ или портал",
    "decision": "Разъяснено",
    "decision_reason": "Порядок назначения пособия",
}

# Steps from a new consultation to each status, as (username, action). The
# action "save" means that user saves a protocol draft.
_TO_DRAFTING = [("operator", "take"), ("operator", "save")]
_TO_IN_REVIEW = [*_TO_DRAFTING, ("operator", "submit")]
_TO_SIGNED = [*_TO_IN_REVIEW, ("reviewer", "approve"), ("reviewer", "sign")]
PATHS = {
    Status.INITIATED: [],
    Status.WITHDRAWN: [("citizen", "withdraw")],
    Status.DRAFTING: _TO_DRAFTING,
    Status.DATA_REQUESTED: [*_TO_DRAFTING, ("operator", "request_data")],
    Status.IN_REVIEW: _TO_IN_REVIEW,
    Status.APPROVED: [*_TO_IN_REVIEW, ("reviewer", "approve")],
    Status.SIGNED: _TO_SIGNED,
    Status.ARCHIVED: [*_TO_SIGNED, ("operator", "archive")],
    Status.DISPUTED: [*_TO_SIGNED, ("citizen", "dispute")],
}


def open_consultation(
    citizen, *, service_code: str = "GEN", subject: str = "Пособие на ребёнка"
) -> Consultation:
    """Open a consultation in `citizen`'s name."""
    return services.create_consultation(
        citizen,
        service_code=service_code,
        subject=subject,
        description="Какие документы нужны для оформления пособия?",
    )


def act(user, consultation: Consultation, action: str, comment: str = "Проверено"):
    """Apply a lifecycle action with a comment and return the consultation."""
    return services.transition(user, consultation.pk, action=action, comment=comment)


def consultation_in(users: dict, status: str, *, citizen: str = "citizen"):
    """Open a department A consultation and walk it to `status`.

    `users` maps demo usernames to users, as the `demo` fixture returns them.
    """
    consultation = open_consultation(users[citizen])
    for username, action in PATHS[status]:
        user = users[citizen] if username == "citizen" else users[username]
        if action == "save":
            save_protocol(user, consultation.pk, **PROTOCOL)
        else:
            consultation = act(user, consultation, action)
    consultation.refresh_from_db()
    return consultation


def upload(
    name: str = "справка.pdf",
    content: bytes = b"%PDF-1.4 test",
    content_type: str = "application/pdf",
) -> SimpleUploadedFile:
    """Return an in-memory upload, as Django hands it to the services."""
    return SimpleUploadedFile(name, content, content_type=content_type)
