"""Texts of notifications, rendered in the active language when shown or sent."""

from django.utils.translation import gettext

from protokol.consultations.models import Status
from protokol.notifications.models import EventKind
from protokol.workflow.deadlines import TARGET_LABELS


def _status_label(value: str | None) -> str:
    if value in Status.values:
        return str(Status(value).label)
    return value or ""


def describe(kind: str, params: dict) -> str:
    """Return the one-line text of an event, without message text or comments."""
    values = {
        "number": params.get("number", ""),
        "status": _status_label(params.get("status")),
        "target": str(TARGET_LABELS.get(params.get("target", ""), "")),
    }
    if kind == EventKind.STATUS_CHANGED and params.get("action") == "forward":
        return gettext("Консультация %(number)s передана в другой отдел.") % values
    if kind == EventKind.MESSAGE_NEW and params.get("visibility") == "internal":
        return gettext("Консультация %(number)s: новая внутренняя заметка.") % values
    texts = {
        EventKind.STATUS_CHANGED: gettext(
            "Консультация %(number)s: новый статус «%(status)s»."
        ),
        EventKind.DATA_REQUESTED: gettext(
            "Консультация %(number)s: запрошены дополнительные данные."
        ),
        EventKind.PROTOCOL_SIGNED: gettext(
            "Консультация %(number)s: протокол подписан, копия готова."
        ),
        EventKind.DISPUTE_OPENED: gettext("Консультация %(number)s: протокол оспорен."),
        EventKind.DISPUTE_CONCLUDED: gettext(
            "Консультация %(number)s: спор по протоколу рассмотрен."
        ),
        EventKind.MESSAGE_NEW: gettext("Консультация %(number)s: новое сообщение."),
        EventKind.DEADLINE_WARNING: gettext(
            "Консультация %(number)s: срок «%(target)s» использован на 80 %%."
        ),
        EventKind.DEADLINE_BREACHED: gettext(
            "Консультация %(number)s: срок «%(target)s» нарушен."
        ),
    }
    return texts.get(kind, kind) % values
