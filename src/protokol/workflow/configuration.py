"""Changes to the workflow configuration: routing rules, calendars and targets.

The admin pages (admin.py) call these functions, which validate, save and
journal in one transaction; a ValidationFailed names the field at fault.
"""

from datetime import date, time

import structlog
from django.db import transaction
from django.forms.models import model_to_dict
from django.utils.translation import gettext

from protokol.accounts.models import Role
from protokol.errors import PermissionDenied, ValidationFailed
from protokol.journal import services as journal
from protokol.journal.models import JournalAction
from protokol.profiles.services import check_time_zone
from protokol.workflow.calendars import (
    BusinessCalendar,
    clock_text,
    clock_time,
    stored_hours,
)
from protokol.workflow.models import DepartmentCalendar, RoutingRule, ServiceTarget
from protokol.workflow.sla import Unit

log = structlog.get_logger(__name__)

# Journal actions of configuration changes.
ROUTING_SAVE = JournalAction.ROUTING_RULE_SAVE
ROUTING_DELETE = JournalAction.ROUTING_RULE_DELETE
CALENDAR_SAVE = JournalAction.CALENDAR_SAVE
CALENDAR_DELETE = JournalAction.CALENDAR_DELETE
TARGET_SAVE = JournalAction.SERVICE_TARGET_SAVE
TARGET_DELETE = JournalAction.SERVICE_TARGET_DELETE

WEEKDAYS = 7


def can_configure(user) -> bool:
    """Return whether `user` may change routing rules, calendars and targets."""
    return user.is_authenticated and user.is_active and user.role == Role.ADMIN


def _require(actor) -> None:
    if not can_configure(actor):
        raise PermissionDenied(
            gettext("Only administrators change the workflow configuration."),
            field="role",
        )


def _facts(row) -> dict:
    """Return the row's fields as JSON-ready values for a journal entry."""
    return {
        name: value.isoformat() if isinstance(value, date | time) else value
        for name, value in model_to_dict(row).items()
    }


def _save(actor, row, action: str, label: str):
    """Save `row` and journal it with its old and new values."""
    _require(actor)
    with transaction.atomic():
        old = type(row).objects.filter(pk=row.pk).first() if row.pk else None
        row.save()
        journal.record(
            action,
            actor=actor,
            object_type=type(row)._meta.model_name,
            object_id=row.pk,
            object_label=label,
            before=_facts(old) if old else None,
            after=_facts(row),
        )
    log.info("workflow_configuration_saved", action=action, object_id=row.pk)
    return row


def _delete(actor, row, action: str, label: str) -> None:
    _require(actor)
    with transaction.atomic():
        before, pk = _facts(row), row.pk
        row.delete()
        journal.record(
            action,
            actor=actor,
            object_type=type(row)._meta.model_name,
            object_id=pk,
            object_label=label,
            before=before,
        )
    log.info("workflow_configuration_deleted", action=action, object_id=pk)


# -- routing rules


def check_routing_rule(rule: RoutingRule) -> None:
    """Reject a rule that has no condition or whose keywords are all blank."""
    if rule.keywords and not rule.keyword_list():
        raise ValidationFailed(
            gettext("keywords must contain words separated by commas."),
            field="keywords",
        )
    if rule.service_id is None and not rule.district and not rule.keywords:
        raise ValidationFailed(
            gettext(
                "A rule needs a service, a district or keywords; without any it "
                "would route every consultation."
            ),
            field="keywords",
        )


def save_routing_rule(actor, rule: RoutingRule) -> RoutingRule:
    """Save a routing rule; a lower priority is tried first."""
    check_routing_rule(rule)
    return _save(actor, rule, ROUTING_SAVE, f"#{rule.priority}")


def delete_routing_rule(actor, rule: RoutingRule) -> None:
    _delete(actor, rule, ROUTING_DELETE, f"#{rule.priority}")


# -- department calendars


def parse_hours(text: str, *, field: str) -> list[str] | None:
    """Parse "09:00-18:00" into ["09:00", "18:00"]; an empty text is a day off."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        opens, closes = (part.strip() for part in text.split("-"))
        start, end = time.fromisoformat(opens), clock_time(closes)
    except ValueError:
        raise ValidationFailed(
            gettext(
                "'%(value)s' is not working hours; write them as 09:00-18:00, or "
                "leave the day empty for a day off."
            )
            % {"value": text},
            field=field,
        ) from None
    if not start < end:
        raise ValidationFailed(
            gettext("Working hours '%(value)s' must end after they start.")
            % {"value": text},
            field=field,
        )
    return [clock_text(start), clock_text(end)]


def parse_dates(text: str, *, field: str) -> list[str]:
    """Parse ISO dates, one per line or separated by commas, sorted and unique."""
    days = set()
    for part in (text or "").replace(",", "\n").split():
        try:
            days.add(date.fromisoformat(part.strip()))
        except ValueError:
            raise ValidationFailed(
                gettext("'%(value)s' is not a date; write dates as 2026-05-09.")
                % {"value": part},
                field=field,
            ) from None
    return [day.isoformat() for day in sorted(days)]


def check_calendar(calendar: DepartmentCalendar) -> None:
    """Reject an unknown zone, a malformed week or a day both worked and off."""
    check_time_zone(calendar.time_zone)
    week = calendar.week
    if not isinstance(week, list) or len(week) != WEEKDAYS:
        raise ValidationFailed(
            gettext("week needs working hours for 7 days, Monday first."),
            field="week",
        )
    both = sorted(set(calendar.extra_working_days) & set(calendar.extra_days_off))
    if both:
        raise ValidationFailed(
            gettext(
                "%(day)s is listed both as a working day and as a day off; keep "
                "it in one list."
            )
            % {"day": both[0]},
            field="extra_days_off",
        )
    hours = tuple(stored_hours(day) for day in week)
    if all(day is None for day in hours):
        raise ValidationFailed(
            gettext("The week has no working day; give at least one day hours."),
            field="week",
        )
    # The calendar class checks the same rules the deadlines rely on.
    BusinessCalendar(time_zone=calendar.time_zone, week=hours)


def save_calendar(actor, calendar: DepartmentCalendar) -> DepartmentCalendar:
    """Save a department's calendar: zone, week, transferred and closed days."""
    check_calendar(calendar)
    return _save(actor, calendar, CALENDAR_SAVE, calendar.department.code)


def delete_calendar(actor, calendar: DepartmentCalendar) -> None:
    _delete(actor, calendar, CALENDAR_DELETE, calendar.department.code)


# -- service targets


def check_target(target: ServiceTarget) -> None:
    """Reject a zero amount or an unknown unit."""
    if not target.amount or target.amount < 1:
        raise ValidationFailed(
            gettext("amount must be a whole number of at least 1."), field="amount"
        )
    if target.unit not in Unit.__members__.values():
        raise ValidationFailed(
            gettext("Unknown unit '%(unit)s'; use one of %(units)s.")
            % {"unit": target.unit, "units": ", ".join(Unit)},
            field="unit",
        )


def save_target(actor, target: ServiceTarget) -> ServiceTarget:
    """Save a regulation target of a service."""
    check_target(target)
    label = f"{target.service.code}:{target.name}"
    return _save(actor, target, TARGET_SAVE, label)


def delete_target(actor, target: ServiceTarget) -> None:
    _delete(actor, target, TARGET_DELETE, f"{target.service.code}:{target.name}")
