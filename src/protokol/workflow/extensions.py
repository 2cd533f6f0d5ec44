"""Deadline extension: once per department, up to 30 days, with a reason."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from protokol.accounts.models import Role
from protokol.analytics.aggregates import mark_stale
from protokol.consultations import lifecycle
from protokol.consultations import services as consultations
from protokol.consultations.models import Consultation, Transition
from protokol.errors import Conflict, PermissionDenied, ValidationFailed
from protokol.journal import services as journal
from protokol.journal.models import JournalAction
from protokol.validation import clean_text
from protokol.workflow.sla import MAX_EXTENSION


def can_extend(user, consultation: Consultation) -> bool:
    """Tell whether `user`'s role may extend deadlines; callers check visibility."""
    return user.role == Role.SUPERVISOR


def check_can_extend(user, consultation: Consultation) -> None:
    """Raise PermissionDenied unless `user`'s role may extend deadlines."""
    if not can_extend(user, consultation):
        raise PermissionDenied(gettext("Only supervisors extend deadlines."))


def extension_days(transitions) -> int:
    """Return the days granted by extensions since the last forward.

    `transitions` are (action, details) pairs in time order.
    """
    days = 0
    for action, details in transitions:
        if action == "forward":
            days = 0
        elif action == "extend":
            days += details.get("days", 0)
    return days


@consultations.journal_denials
def extend_deadline(actor, consultation_id, *, days, reason: str) -> Consultation:
    """Extend the answer deadline by `days`, once, and tell the citizen why.

    The law on citizens' appeals allows one extension of up to 30 days with
    a notice to the citizen; the reason is public in the status history.
    """
    reason = clean_text(reason, field="reason")
    if isinstance(days, bool) or not isinstance(days, int):
        raise ValidationFailed(gettext("days must be a whole number."), field="days")
    if not 1 <= days <= MAX_EXTENSION:
        raise ValidationFailed(
            gettext("days must be from 1 to %(max)s.") % {"max": MAX_EXTENSION},
            field="days",
        )

    # A denial inside the transaction would roll back its journal entry.
    consultations.get_visible(actor, consultation_id)
    with transaction.atomic():
        consultation = consultations.get_visible(
            actor, consultation_id, for_update=True
        )
        check_can_extend(actor, consultation)
        if consultation.status in lifecycle.SEALED_STATUSES | lifecycle.CLOSED_STATUSES:
            raise Conflict(
                gettext("Status '%(status)s' has no open deadline to extend.")
                % {"status": consultation.get_status_display()},
                field="status",
            )
        history = consultation.transitions.values_list("action", "details")
        if extension_days(history) > 0:
            raise Conflict(
                gettext(
                    "The deadline was already extended once in this department; "
                    "the law allows one extension."
                ),
                field="days",
            )

        now = timezone.now()
        before = consultations.summary(consultation)
        old_deadline = consultation.deadline
        consultation.deadline = (old_deadline or now) + timedelta(days=days)
        consultation.updated_at = now
        consultation.save(update_fields=["deadline", "updated_at"])
        mark_stale([consultation.pk])
        consultations.bump_version(consultation)
        details = {
            "days": days,
            "old_deadline": old_deadline.isoformat() if old_deadline else None,
            "new_deadline": consultation.deadline.isoformat(),
        }
        Transition.objects.create(
            consultation=consultation,
            action="extend",
            from_status=consultation.status,
            to_status=consultation.status,
            actor=actor,
            actor_name=actor.display_name,
            actor_role=actor.role,
            comment=reason,
            details=details,
            created_at=now,
        )
        journal.record(
            JournalAction.CONSULTATION_EXTEND,
            actor=actor,
            object_type="consultation",
            object_id=consultation.pk,
            object_label=consultation.number,
            consultation_id=consultation.pk,
            before=before,
            after={**consultations.summary(consultation), **details},
        )
    return consultation
