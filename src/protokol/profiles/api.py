"""HTTP API of the caller's own profile, mounted at /api/v1/profile."""

from ninja import Router, Schema
from pydantic import ConfigDict

from protokol.profiles import services

router = Router(tags=["profile"])


class ProfileIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    # IANA name, e.g. "Asia/Vladivostok".
    time_zone: str


class ProfileOut(Schema):
    time_zone: str


@router.get("", response=ProfileOut)
def get_profile(request):
    """Return the caller's settings; the time zone defaults to Europe/Moscow."""
    return {"time_zone": services.time_zone_of(request.user)}


@router.put("", response=ProfileOut)
def put_profile(request, body: ProfileIn):
    """Set the time zone in which the caller's deadlines are shown."""
    profile = services.set_time_zone(request.user, body.time_zone)
    return {"time_zone": profile.time_zone}
