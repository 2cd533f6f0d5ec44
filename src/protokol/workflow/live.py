"""Live page state: the latest change to a consultation or a queue, and presence."""

from datetime import timedelta

from django.db.models import Max
from django.utils import timezone

from protokol.accounts.models import STAFF_ROLES
from protokol.consultations import permissions
from protokol.consultations.models import Consultation
from protokol.journal.models import JournalEntry
from protokol.workflow.models import Presence

# Entries that change what a page shows. Reads, lists and denials are
# journaled too, and must not make every open page reload on each view.
QUIET_SUFFIXES = (":read", ":list", ":denied", ":login", ":login_failed")
PRESENCE_TTL = timedelta(seconds=20)


def _changes():
    entries = JournalEntry.objects.all()
    for suffix in QUIET_SUFFIXES:
        entries = entries.exclude(action__endswith=suffix)
    return entries


def last_change(consultation_id: int) -> int:
    """Return the index of the latest change to the consultation, or -1."""
    latest = (
        _changes()
        .filter(consultation_id=consultation_id)
        .aggregate(last=Max("index"))["last"]
    )
    return -1 if latest is None else latest


def last_queue_change(user) -> int:
    """Return the index of the latest change to a consultation `user` may see."""
    visible = Consultation.objects.filter(permissions.consultation_scope(user))
    latest = (
        _changes()
        .filter(consultation_id__in=visible.values("pk"))
        .aggregate(last=Max("index"))["last"]
    )
    return -1 if latest is None else latest


def touch(user, consultation_id: int) -> list[str]:
    """Record that `user` has the page open; return the other staff viewers' names.

    Citizens are recorded too, but only staff names are returned, and only
    to staff: a citizen does not learn who in the department reads along.
    """
    now = timezone.now()
    Presence.objects.update_or_create(
        user=user, consultation_id=consultation_id, defaults={"seen_at": now}
    )
    if user.role not in STAFF_ROLES:
        return []
    others = (
        Presence.objects.filter(
            consultation_id=consultation_id,
            seen_at__gte=now - PRESENCE_TTL,
            user__role__in=list(STAFF_ROLES),
        )
        .exclude(user=user)
        .select_related("user")
        .order_by("user__last_name", "user__first_name")
    )
    return [presence.user.display_name for presence in others]


def leave(user, consultation_id: int) -> None:
    """Forget that `user` has the page open."""
    Presence.objects.filter(user=user, consultation_id=consultation_id).delete()
