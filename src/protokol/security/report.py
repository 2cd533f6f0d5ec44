"""The security report: actors denied repeatedly within a window of time."""

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext

from protokol.errors import ValidationFailed
from protokol.journal import services as journal
from protokol.journal.canonical import format_time
from protokol.journal.models import JournalAction, JournalEntry
from protokol.security.services import subject_of

UNITS = {"m": "minutes", "h": "hours", "d": "days"}
RELATIVE = re.compile(r"^(\d{1,6})([mhd])$")


@dataclass
class ActorDenials:
    """The denials of one actor in the window.

    Fields:
        subject: "user" with the user id, or "address" with the client
            address when the attempts carried no user.
        kinds: denials per kind, "object_type:reason", e.g.
            "consultation:not_visible".
        objects: "object_type:object_id" of each object tried, first try first.
        addresses: the client addresses the attempts came from.
        alerts: security:alert entries about the actor in the window.
    """

    subject: str
    subject_id: str
    name: str
    role: str
    denials: int = 0
    kinds: Counter = field(default_factory=Counter)
    objects: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    first_at: datetime | None = None
    last_at: datetime | None = None
    alerts: int = 0

    def as_dict(self) -> dict:
        return {
            "subject": self.subject,
            "subject_id": self.subject_id,
            "name": self.name,
            "role": self.role,
            "denials": self.denials,
            "kinds": dict(sorted(self.kinds.items())),
            "objects": self.objects,
            "addresses": self.addresses,
            "first_at": format_time(self.first_at),
            "last_at": format_time(self.last_at),
            "alerts": self.alerts,
        }


def parse_since(value: str, *, now: datetime | None = None) -> datetime:
    """Return the start of the window: "30m", "24h", "7d", or an ISO 8601 time.

    A date or a time without a zone is taken as UTC.

    Raises:
        ValidationFailed: the value is neither. The field is `since`, and
            the message names the command's option --since.
    """
    text = (value or "").strip()
    match = RELATIVE.match(text)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return (now or datetime.now(UTC)) - timedelta(**{UNITS[unit]: amount})
    try:
        moment = parse_datetime(text)
        if moment is None:
            day = parse_date(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None
    except ValueError:
        moment = None
    if moment is None:
        raise ValidationFailed(
            gettext(
                "--since must be a duration such as 30m, 24h or 7d, or an ISO "
                "8601 date or time; got '%(value)s'."
            )
            % {"value": value},
            field="since",
        )
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def denial_report(since: datetime, *, min_denials: int) -> list[ActorDenials]:
    """Return the actors with at least `min_denials` denials since `since`.

    The most denied actor comes first.
    """
    if min_denials < 1:
        raise ValidationFailed(
            gettext("--min-denials must be 1 or more."), field="min_denials"
        )
    actors: dict[tuple[str, str], ActorDenials] = {}
    entries = JournalEntry.objects.filter(
        action=JournalAction.ACCESS_DENIED, created_at__gte=since
    ).order_by("index")
    for entry in journal.iter_with_payloads(entries):
        after = entry.after or {}
        ip = after.get("ip", "")
        key = subject_of(entry.actor_id, ip)
        actor = actors.get(key)
        if actor is None:
            actor = actors[key] = ActorDenials(
                subject=key[0],
                subject_id=key[1],
                name=entry.actor_name,
                role=entry.actor_role,
                first_at=entry.created_at,
            )
        actor.denials += 1
        actor.kinds[f"{entry.object_type}:{after.get('reason', '')}"] += 1
        tried = f"{entry.object_type}:{entry.object_id}"
        if tried not in actor.objects:
            actor.objects.append(tried)
        if ip and ip not in actor.addresses:
            actor.addresses.append(ip)
        actor.last_at = entry.created_at

    alerts = JournalEntry.objects.filter(
        action=JournalAction.SECURITY_ALERT, created_at__gte=since
    ).values_list("object_type", "object_id")
    for key in alerts.iterator():
        if key in actors:
            actors[key].alerts += 1

    found = [actor for actor in actors.values() if actor.denials >= min_denials]
    return sorted(found, key=lambda actor: (-actor.denials, actor.first_at))
