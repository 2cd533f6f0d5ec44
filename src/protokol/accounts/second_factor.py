"""TOTP as the second factor of staff sign-ins (django-otp), outside demo mode.

A staff member who signed in by password or through the organisation's
provider reaches no page until they confirm a code from their authenticator
app: on the enrolment page the first time, on the verification page later.
STAFF_OTP_REQUIRED (true unless PROTOKOL_DEMO=1) turns this on.
"""

import segno
import structlog
from django.conf import settings
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import redirect
from django.utils.translation import gettext
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from protokol.accounts.services import journal_failed_login
from protokol.errors import NotAuthenticated
from protokol.journal import services as journal
from protokol.journal.models import JournalAction

log = structlog.get_logger(__name__)

DEVICE_NAME = "authenticator"
# Paths an unverified staff member may still open: the sign-in pages
# themselves, static files, language switching and the health check.
OPEN_PREFIXES = ("/login/", "/logout/", "/static/", "/i18n/", "/healthz")


def required_for(user) -> bool:
    """Return whether `user` must confirm a TOTP code in this installation."""
    return (
        settings.STAFF_OTP_REQUIRED
        and user.is_authenticated
        and user.is_staff_member
        and not user.is_verified()
    )


def confirmed_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def pending_device(user) -> TOTPDevice:
    """Return the user's unconfirmed device, creating one with a new key."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def qr_svg(device: TOTPDevice) -> str:
    """Return an inline SVG QR code of the device's otpauth:// URI."""
    return segno.make(device.config_url, error="m").svg_inline(scale=4)


def confirm_enrolment(request, token: str) -> bool:
    """Confirm the pending device with a code and mark the session verified."""
    user = request.user
    with transaction.atomic():
        device = pending_device(user)
        if not device.verify_token(_clean(token)):
            transaction.on_commit(lambda: _journal_failure(user))
            return False
        TOTPDevice.objects.filter(user=user, confirmed=True).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        _journal_success(user, device, enrolled=True)
    otp_login(request, device)
    return True


def verify(request, token: str) -> bool:
    """Check a code against the confirmed device and mark the session verified."""
    user = request.user
    device = confirmed_device(user)
    if device is None or not device.verify_token(_clean(token)):
        _journal_failure(user)
        return False
    with transaction.atomic():
        _journal_success(user, device, enrolled=False)
    otp_login(request, device)
    return True


def _clean(token: str) -> str:
    return "".join((token or "").split())


def _journal_success(user, device: TOTPDevice, *, enrolled: bool) -> None:
    journal.record(
        JournalAction.USER_LOGIN,
        actor=user,
        object_type="user",
        object_id=user.pk,
        object_label=user.username,
        after={"via": "totp", "enrolled": enrolled, "device": device.pk},
    )
    log.info("second_factor_confirmed", user_id=user.pk, enrolled=enrolled)


def _journal_failure(user) -> None:
    journal_failed_login(user.username, via="totp")
    log.info("second_factor_failed", user_id=user.pk)


class SecondFactorMiddleware:
    """Send staff who have not confirmed a TOTP code to the enrolment or code page.

    Runs after django-otp's OTPMiddleware, which sets `user.is_verified()`.
    API requests with a bearer token pass, since tokens are checked by the API.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not required_for(request.user) or request.path.startswith(OPEN_PREFIXES):
            return self.get_response(request)

        if request.path.startswith("/api/"):
            if "Authorization" in request.headers:
                return self.get_response(request)
            error = NotAuthenticated(
                gettext(
                    "Confirm the second factor at /login/otp/ before using the API "
                    "with the page session."
                ),
                field="otp",
            )
            return JsonResponse(error.as_dict(), status=error.status)

        if confirmed_device(request.user) is None:
            return redirect("web:otp_enrol")
        return redirect("web:otp_verify")
