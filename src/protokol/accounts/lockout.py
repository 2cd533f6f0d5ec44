"""Lockout after repeated failed password sign-ins (django-axes), journaled.

django-axes counts failed attempts per user name and client address and,
after PROTOKOL_LOGIN_FAILURE_LIMIT of them, rejects that pair for
PROTOKOL_LOGIN_LOCKOUT_MINUTES. Each rejected attempt is journaled as an
access:denied entry, so repeated ones raise the security app's alert.
"""

import structlog
from axes.backends import AxesStandaloneBackend
from axes.signals import user_locked_out
from django.dispatch import receiver

from protokol.security.services import record_denial

log = structlog.get_logger(__name__)

LOCKOUT_REASON = "login_locked_out"


class LockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check, skipped when the caller passes no request."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        # NOTE: POST /api/v1/auth/token calls authenticate() without the request,
        # so its failures are journaled but not counted towards a lockout.
        # Remove this skip once accounts.services.issue_token passes the request.
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


@receiver(user_locked_out)
def journal_lockout(sender, request=None, username=None, ip_address=None, **kwargs):
    """Journal a locked-out attempt as a denial."""
    record_denial(
        None,
        object_type="user",
        object_id="",
        object_label=(username or "")[:150],
        reason=LOCKOUT_REASON,
        operation="login",
    )
    log.warning("login_locked_out", ip=ip_address)
