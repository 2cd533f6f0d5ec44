"""Texts of notifications, rendered in the active language when shown or sent."""

from django.utils.translation import gettext

from protokol.consultations.models import Consultation, Status
from protokol.notifications.models import EventKind
from protokol.workflow import answer_templates
from protokol.workflow.deadlines import TARGET_LABELS

# An active answer template with code TEMPLATE_PREFIX + event kind, e.g.
# "notify_dispute_opened", is the body of the citizen's e-mail of that kind.
TEMPLATE_PREFIX = "notify_"


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
    if kind == EventKind.STATUS_CHANGED and params.get("action") == "extend":
        return gettext("Консультация %(number)s: срок ответа продлён.") % values
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


def template_text(event, recipient) -> str | None:
    """Return the citizen's e-mail body from the event's answer template, if any.

    The template is chosen and filled in by the same functions as the
    operator's template insertion (workflow/answer_templates.py), for the
    consultation's service and department. Staff recipients, and events
    without a template, get None.

    Raises:
        ValidationFailed: the template uses a variable that is not known;
            the message names it.
    """
    consultation = Consultation.objects.select_related(
        "citizen", "service", "department", "assignee"
    ).get(pk=event.consultation_id)
    if recipient is None or recipient.pk != consultation.citizen_id:
        return None
    code = TEMPLATE_PREFIX + event.kind
    template = next(
        (t for t in answer_templates.templates_for(consultation) if t.code == code),
        None,
    )
    if template is None:
        return None
    return answer_templates.render_for(template, consultation)
