"""Live page state: the latest change to a consultation or a queue, and presence."""

from datetime import timedelta

from django.db.models import Max, Q
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


def latest_index() -> int:
    """Return the index of the newest journal entry, or -1 for an empty journal."""
    latest = JournalEntry.objects.aggregate(last=Max("index"))["last"]
    return -1 if latest is None else latest


def changes_between(after: int, up_to: int) -> dict[int, int]:
    """Return the latest change index per consultation in entries (after, up_to]."""
    rows = (
        _changes()
        .filter(index__gt=after, index__lte=up_to, consultation_id__isnull=False)
        .values("consultation_id")
        .annotate(last=Max("index"))
        .order_by()
    )
    return {row["consultation_id"]: row["last"] for row in rows}


def visible_ids(user, consultation_ids) -> set[int]:
    """Return the ids among `consultation_ids` that `user` may see."""
    visible = Consultation.objects.filter(
        permissions.consultation_scope(user), pk__in=list(consultation_ids)
    )
    return set(visible.values_list("pk", flat=True))


def touch_many(viewers) -> dict[int, list[tuple[int, str]]]:
    """Record that each (user, consultation id) has the page open.

    Returns the staff who had each of those consultations open in the last
    PRESENCE_TTL, as (user id, display name) sorted by name. One upsert and
    one select serve every open page of a process.
    """
    now = timezone.now()
    rows = {
        (user.pk, consultation_id): Presence(
            user_id=user.pk, consultation_id=consultation_id, seen_at=now
        )
        for user, consultation_id in viewers
    }
    if not rows:
        return {}
    Presence.objects.bulk_create(
        rows.values(),
        update_conflicts=True,
        unique_fields=["user", "consultation"],
        update_fields=["seen_at"],
    )

    consultation_ids = {consultation_id for _, consultation_id in rows}
    staff = (
        Presence.objects.filter(
            consultation_id__in=consultation_ids,
            seen_at__gte=now - PRESENCE_TTL,
            user__role__in=list(STAFF_ROLES),
        )
        .select_related("user")
        .order_by("user__last_name", "user__first_name")
    )
    present = {consultation_id: [] for consultation_id in consultation_ids}
    for presence in staff:
        present[presence.consultation_id].append(
            (presence.user_id, presence.user.display_name)
        )
    return present


def other_viewers(user, present: list[tuple[int, str]]) -> list[str]:
    """Return the names in `present` other than `user`, or none for a citizen.

    A citizen does not learn who in the department reads along.
    """
    if user.role not in STAFF_ROLES:
        return []
    return [name for user_id, name in present if user_id != user.pk]


def touch(user, consultation_id: int) -> list[str]:
    """Record that `user` has the page open; return the other staff viewers' names."""
    present = touch_many([(user, consultation_id)])[consultation_id]
    return other_viewers(user, present)


def leave_many(pages) -> None:
    """Forget the open pages given as (user id, consultation id) pairs."""
    closed = Q()
    for user_id, consultation_id in pages:
        closed |= Q(user_id=user_id, consultation_id=consultation_id)
    if closed:
        Presence.objects.filter(closed).delete()
