"""Journaling denied access, and one alert when an actor is denied repeatedly."""

from datetime import timedelta

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Min

from protokol.journal import services as journal
from protokol.journal.models import JournalAction, JournalEntry
from protokol.security.context import current_client, note_denial

log = structlog.get_logger(__name__)

# Journal object types of an alert's subject: a user, or a client address when
# the attempts carried no user.
USER_SUBJECT = "user"
ADDRESS_SUBJECT = "address"


def record_denial(
    actor,
    *,
    object_type: str,
    object_id,
    reason: str,
    consultation_id: int | None = None,
    operation: str = "",
    object_label: str = "",
) -> JournalEntry:
    """Journal a denied attempt in a transaction of its own and return the entry.

    `consultation_id` names the consultation the attempt aimed at, when it
    exists; the consultation's journal shows such entries to auditors,
    supervisors and administrators only. The client address of the request
    goes into `after.ip`. When the actor reaches the alert threshold, the same
    transaction appends one security:alert entry.
    """
    if actor is not None and not actor.is_authenticated:
        actor = None
    ip = current_client().ip
    after = {"reason": reason}
    if operation:
        after["operation"] = operation
    if ip:
        after["ip"] = ip

    with transaction.atomic():
        entry = journal.record(
            JournalAction.ACCESS_DENIED,
            actor=actor,
            object_type=object_type,
            object_id=object_id,
            object_label=object_label,
            consultation_id=consultation_id,
            after=after,
        )
        alert = _alert_if_repeated(entry, actor, ip)
    note_denial(entry.index)

    log.warning(
        "access_denied",
        object_type=object_type,
        object_id=str(object_id),
        consultation_id=consultation_id,
        reason=reason,
        operation=operation,
        ip=ip,
    )
    if alert is not None:
        log.warning(
            "security_alert",
            subject=alert.object_type,
            subject_id=alert.object_id,
            denials=alert.after["denials"],
            window_seconds=alert.after["window_seconds"],
            journal_index=alert.index,
        )
    return entry


def subject_of(actor_id: int | None, ip: str) -> tuple[str, str]:
    """Return the (object_type, object_id) an alert about these attempts names."""
    if actor_id is not None:
        return USER_SUBJECT, str(actor_id)
    return ADDRESS_SUBJECT, ip


def _alert_if_repeated(entry: JournalEntry, actor, ip: str) -> JournalEntry | None:
    """Append a security:alert when the actor reached the threshold in the window.

    Runs after `entry` was appended, so the journal's append lock serializes
    concurrent denials and at most one alert is written per window: none
    when an alert about the same subject is already in the window.
    """
    threshold = settings.CONFIG.security_alert_denials
    seconds = settings.CONFIG.security_alert_window_seconds
    if threshold <= 0 or seconds <= 0:
        return None
    since = entry.created_at - timedelta(seconds=seconds)

    denials = JournalEntry.objects.filter(
        action=JournalAction.ACCESS_DENIED, created_at__gt=since
    )
    if actor is not None:
        denials = denials.filter(actor_id=actor.pk)
    elif ip:
        denials = denials.filter(actor_id__isnull=True, after__ip=ip)
    else:
        denials = denials.filter(actor_id__isnull=True).exclude(after__has_key="ip")
    stats = denials.aggregate(count=Count("index"), first=Min("index"))
    if stats["count"] < threshold:
        return None

    subject_type, subject_id = subject_of(actor.pk if actor else None, ip)
    # An alert in the window follows a denial in it, so the range by index
    # starting at the window's first denial finds it.
    earlier = JournalEntry.objects.filter(
        index__gte=stats["first"],
        action=JournalAction.SECURITY_ALERT,
        object_type=subject_type,
        object_id=subject_id,
        created_at__gt=since,
    )
    if earlier.exists():
        return None
    return journal.record(
        JournalAction.SECURITY_ALERT,
        actor=None,
        object_type=subject_type,
        object_id=subject_id,
        object_label=actor.display_name if actor else ip,
        after={
            "denials": stats["count"],
            "threshold": threshold,
            "window_seconds": seconds,
            "first_index": stats["first"],
            "last_index": entry.index,
        },
    )
