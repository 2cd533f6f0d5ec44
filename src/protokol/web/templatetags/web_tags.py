"""Template filters that turn stored codes into display labels."""

from datetime import datetime

from django import template

from protokol.consultations import lifecycle
from protokol.web import labels
from protokol.web.forms import localized_name as localized

register = template.Library()


@register.filter
def role_label(role: str) -> str:
    return labels.role_label(role)


@register.filter
def status_label(status: str) -> str:
    return labels.status_label(status)


@register.filter
def action_label(action: str) -> str:
    return lifecycle.action_label(action)


@register.filter
def event_label(action: str) -> str:
    return labels.EVENT_LABELS.get(action, action)


@register.filter
def addendum_label(kind: str) -> str:
    return labels.ADDENDUM_LABELS.get(kind, kind)


@register.filter
def channel_label(channel: str) -> str:
    return labels.channel_label(channel)


@register.filter
def iso_datetime(value: str | None) -> datetime | None:
    """Return the datetime of an ISO 8601 text kept in JSON, or None without one."""
    if not value:
        return None
    return datetime.fromisoformat(value)


@register.filter
def localized_name(named) -> str:
    """Return the English name of a service or department on English pages."""
    return localized(named.name, named.name_en)
