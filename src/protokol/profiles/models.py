"""A user's personal settings that other apps read, such as the time zone."""

from django.conf import settings
from django.db import models

DEFAULT_TIME_ZONE = "Europe/Moscow"


class Profile(models.Model):
    """Settings of one user; a user without a row has the defaults."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    # IANA name in which the citizen's deadlines and times are shown.
    time_zone = models.CharField(max_length=64, default=DEFAULT_TIME_ZONE)
    updated_at = models.DateTimeField()
