"""Display lines of the city portal's facts stored on imported transitions.

protokol.imports.timeline stores these keys in Transition.details:

- every step made by a portal status event (action portal_status, or take,
  sign, archive, return or reopen when the status changed): "portal_status",
  the portal's status name, and its code.
- change_category: "old_category" (may be None) and "new_category", each a
  dict of object_type, category and reason.
- change_deadline and forward: "old_deadline" and "new_deadline", ISO dates
  or times, either may be None.
- forward: "from_organisation" and "to_organisation", each a dict with an
  optional controller and coordinator.
- portal_note: "portal_event" (the note's kind) and an optional
  "is_resolved". The note's text itself is the transition's comment.
"""

from datetime import datetime

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

# Kinds of portal notes in the packaged sample. Another kind is shown as stored.
PORTAL_EVENT_LABELS = {
    "public_controller_review": gettext_lazy("Отзыв народного контролёра"),
    "returned_for_rework": gettext_lazy("Сообщение возвращено на доработку"),
}


def portal_facts(action: str, details: dict | None) -> list[dict]:
    """Return the label and value of each portal fact of one imported step.

    A step recorded by Protokol itself has none of these keys and gets an
    empty list.
    """
    details = details or {}
    # Every portal status event stores its name, also those the importer
    # recorded as lifecycle actions (take, sign, archive, reopen, return).
    if details.get("portal_status"):
        return [_fact(_("Статус на портале"), details["portal_status"])]
    if action == "change_category":
        return _changes(
            _("Категория"),
            format_category(details.get("old_category")),
            format_category(details.get("new_category")),
        )
    if action == "change_deadline":
        return _deadline_change(details)
    if action == "forward":
        return _forward(details)
    if action == "portal_note":
        return _note(details)
    return []


def format_category(category: dict | None) -> str:
    """Format a portal category as "category: reason (object type)"."""
    if not category:
        return ""
    text = category.get("category", "")
    if category.get("reason"):
        text = f"{text}: {category['reason']}"
    if category.get("object_type"):
        text = f"{text} ({category['object_type']})"
    return text


def format_deadline(value: str | None) -> str:
    """Format a stored ISO date or time as DD.MM.YYYY, or "" when it is missing."""
    if not value:
        return ""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    # Portal times carry the Moscow offset, so their date is the portal's date.
    return parsed.strftime("%d.%m.%Y")


def _fact(label: str, value: str) -> dict:
    return {"label": label, "value": value}


def _changes(label: str, old: str, new: str) -> list[dict]:
    """Return one "old → new" fact, or the new value alone when there was none."""
    if not old and not new:
        return []
    if old and new and old != new:
        return [_fact(label, f"{old} → {new}")]
    return [_fact(label, new or old)]


def _deadline_change(details: dict) -> list[dict]:
    return _changes(
        _("Срок ответа"),
        format_deadline(details.get("old_deadline")),
        format_deadline(details.get("new_deadline")),
    )


def _organisation(pair: dict | None) -> str:
    pair = pair or {}
    return pair.get("coordinator") or pair.get("controller") or ""


def _forward(details: dict) -> list[dict]:
    if "from_organisation" not in details and "to_organisation" not in details:
        return []
    facts = _changes(
        _("Организация"),
        _organisation(details.get("from_organisation")),
        _organisation(details.get("to_organisation")),
    )
    return facts + _deadline_change(details)


def _note(details: dict) -> list[dict]:
    facts = []
    kind = details.get("portal_event")
    if kind:
        facts.append(_fact(_("Отметка"), str(PORTAL_EVENT_LABELS.get(kind, kind))))
    if details.get("is_resolved") is not None:
        resolved = _("да") if details["is_resolved"] else _("нет")
        facts.append(_fact(_("Проблема решена"), resolved))
    return facts
