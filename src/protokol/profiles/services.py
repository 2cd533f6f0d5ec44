"""Reading and changing a user's profile settings."""

import functools
import zoneinfo

import structlog
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from protokol.errors import ValidationFailed
from protokol.journal import services as journal
from protokol.journal.models import JournalAction
from protokol.profiles.models import DEFAULT_TIME_ZONE, Profile

log = structlog.get_logger(__name__)

PROFILE_UPDATE = JournalAction.PROFILE_UPDATE


def time_zone_of(user) -> str:
    """Return the user's time zone name, the default without a profile."""
    if not user.is_authenticated:
        return DEFAULT_TIME_ZONE
    stored = (
        Profile.objects.filter(user_id=user.pk)
        .values_list("time_zone", flat=True)
        .first()
    )
    return stored or DEFAULT_TIME_ZONE


def zone_of(user) -> zoneinfo.ZoneInfo:
    """Return the user's time zone as a ZoneInfo."""
    return zoneinfo.ZoneInfo(time_zone_of(user))


# The zone database's "localtime" is a link to the server's own zone, so
# it is not an IANA name.
SERVER_ZONE_LINK = "localtime"


@functools.cache
def time_zone_names() -> tuple[str, ...]:
    """Return the IANA time zone names known here, sorted."""
    return tuple(sorted(zoneinfo.available_timezones() - {SERVER_ZONE_LINK}))


def check_time_zone(name: str, *, field: str = "time_zone") -> str:
    """Return `name` if it is an IANA time zone known here, else raise naming it."""
    name = (name or "").strip()
    if name not in time_zone_names():
        raise ValidationFailed(
            gettext(
                "Unknown time zone '%(zone)s'; use an IANA name such as "
                "Europe/Moscow or Asia/Vladivostok."
            )
            % {"zone": name},
            field=field,
        )
    return name


def set_time_zone(actor, time_zone: str) -> Profile:
    """Set the time zone in which `actor` sees deadlines and times."""
    time_zone = check_time_zone(time_zone)
    with transaction.atomic():
        before = time_zone_of(actor)
        profile, _ = Profile.objects.update_or_create(
            user=actor,
            defaults={"time_zone": time_zone, "updated_at": timezone.now()},
        )
        journal.record(
            PROFILE_UPDATE,
            actor=actor,
            object_type="profile",
            object_id=actor.pk,
            object_label=actor.username,
            before={"time_zone": before},
            after={"time_zone": time_zone},
        )
    log.info("profile_time_zone_set", user_id=actor.pk)
    return profile
