"""Lockout after repeated failed password sign-ins (django-axes), journaled.

django-axes counts failed attempts per user name and client address and,
after PROTOKOL_LOGIN_FAILURE_LIMIT of them, rejects that pair for
PROTOKOL_LOGIN_LOCKOUT_MINUTES. The sign-in page and POST /api/v1/auth/token
add to the same count. Each rejected attempt is journaled as an
access:denied entry, so repeated ones raise the security app's alert.
"""

import math

import structlog
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from axes.signals import user_locked_out
from django.dispatch import receiver
from django.utils.translation import gettext

from protokol.errors import TooManyRequests
from protokol.security.services import record_denial

log = structlog.get_logger(__name__)

LOCKOUT_REASON = "login_locked_out"
API_PATH_PREFIX = "/api/"


def is_locked_out(request) -> bool:
    """Return whether django-axes rejected or locked out this request's sign-in."""
    return bool(getattr(request, "axes_locked_out", False))


def retry_after_seconds(request) -> int:
    """Return the Retry-After of a locked-out attempt: the whole cool-off.

    With AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT the rejected attempt
    is itself counted as a failure and starts the cool-off again.
    """
    return int(get_cool_off(request).total_seconds())


def lockout_error(request) -> TooManyRequests:
    """Return the API error for a locked-out user name and address."""
    cool_off_seconds = retry_after_seconds(request)
    minutes = math.ceil(cool_off_seconds / 60)
    message = gettext(
        "Too many failed sign-in attempts for this user name from this address. "
        "Wait %(minutes)d min and try again, or ask an administrator to lift "
        "the lockout."
    ) % {"minutes": minutes}
    return TooManyRequests(message, retry_after=cool_off_seconds, field="username")


def lockout_response(request, original_response=None, credentials=None):
    """Return the response to a locked-out attempt, for AXES_LOCKOUT_CALLABLE.

    API requests get the API's JSON error and the web pages get the sign-in
    page with the lockout message, both with 429 and Retry-After.
    """
    if request.path_info.startswith(API_PATH_PREFIX):
        from protokol.api.api import error_response

        return error_response(request, lockout_error(request))

    from protokol.web.identity_views import lockout_page

    response = lockout_page(request, original_response, credentials)
    response["Retry-After"] = str(retry_after_seconds(request))
    return response


def record_api_sign_in(request, user) -> None:
    """Pass a password sign-in that does not call login() on to django-axes.

    On Django's user_logged_in signal django-axes writes an AccessLog row and
    resets the failure count of the user name and address (AXES_RESET_ON_SUCCESS).
    The API issues a token without a session login, so it calls that handler.
    """
    AxesProxyHandler.user_logged_in(
        sender=record_api_sign_in, request=request, user=user
    )


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
