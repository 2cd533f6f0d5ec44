"""Sign-in through OpenID providers and ESIA, the TOTP pages and the lockout page."""

import structlog
from django import forms
from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from protokol.accounts import esia, external, oidc, second_factor
from protokol.accounts.models import Provider
from protokol.accounts.services import journal_failed_login
from protokol.errors import ProtokolError
from protokol.web.forms import LoginForm, PageForm

log = structlog.get_logger(__name__)

# URL names of the OpenID clients.
OIDC_CLIENTS = {"citizen": Provider.CITIZEN_OIDC, "staff": Provider.STAFF_OIDC}
NEXT_KEY = "sign_in_next"
BACKEND = "django.contrib.auth.backends.ModelBackend"


class CodeForm(PageForm):
    token = forms.CharField(
        label=_("Код из приложения"),
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}
        ),
    )


def sign_in_options() -> list[dict]:
    """Return the external sign-in buttons of the configured providers."""
    options = []
    if oidc.client_config(Provider.CITIZEN_OIDC):
        options.append(
            {
                "url": reverse("web:oidc_start", args=["citizen"]),
                "label": _("Войти через OpenID Connect"),
            }
        )
    if esia.configured():
        options.append(
            {"url": reverse("web:esia_start"), "label": _("Войти через Госуслуги")}
        )
    if oidc.client_config(Provider.STAFF_OIDC):
        options.append(
            {
                "url": reverse("web:oidc_start", args=["staff"]),
                "label": _("Вход для сотрудников"),
            }
        )
    return options


def _remember_next(request) -> None:
    next_url = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = ""
    request.session[NEXT_KEY] = next_url


def _login_page(request, error: ProtokolError, provider: str):
    """Render the sign-in page with the error and journal the failed attempt."""
    journal_failed_login("", via=provider, reason=error.extra.get("reason", error.code))
    return _render_login(request, error.message, error.status)


def _render_login(request, message: str, status: int):
    context = {
        "form": LoginForm(request),
        "next": "",
        "sign_in_options": sign_in_options(),
        "sign_in_error": message,
    }
    return render(request, "web/login.html", context, status=status)


def _finish(request, claims: external.ExternalClaims):
    result = external.sign_in(claims)
    login(request, result.user, backend=BACKEND)
    next_url = request.session.pop(NEXT_KEY, "")
    return redirect(next_url or "web:home")


def _unknown_provider(request):
    """Return the not-found page for a provider slug of no OpenID client.

    Such a URL is journaled no more than any other unknown path.
    """
    return render(request, "web/not_found.html", status=404)


def _client(provider_slug: str) -> oidc.ClientConfig:
    return oidc.require_config(OIDC_CLIENTS[provider_slug])


@require_GET
def oidc_start(request, provider: str):
    """Redirect to the OpenID provider's authorization endpoint."""
    if provider not in OIDC_CLIENTS:
        return _unknown_provider(request)
    try:
        config = _client(provider)
        _remember_next(request)
        callback = request.build_absolute_uri(
            reverse("web:oidc_callback", args=[provider])
        )
        return oidc.authorization_redirect(request, config, callback)
    except ProtokolError as error:
        return _login_page(request, error, OIDC_CLIENTS[provider])


@require_GET
def oidc_callback(request, provider: str):
    """Validate the provider's response, then sign the account in."""
    if provider not in OIDC_CLIENTS:
        return _unknown_provider(request)
    try:
        config = _client(provider)
        claims = oidc.complete(request, config)
        return _finish(request, oidc.external_claims(config, claims))
    except ProtokolError as error:
        return _login_page(request, error, OIDC_CLIENTS[provider])


@require_GET
def esia_start(request):
    """Redirect to ESIA with a client secret signed by the organisation's seal."""
    try:
        _remember_next(request)
        callback = request.build_absolute_uri(reverse("web:esia_callback"))
        return redirect(esia.authorization_url(request, callback))
    except ProtokolError as error:
        return _login_page(request, error, Provider.ESIA)


@require_GET
def esia_callback(request):
    try:
        return _finish(request, esia.complete(request))
    except ProtokolError as error:
        return _login_page(request, error, Provider.ESIA)


@login_required
def otp_enrol(request):
    """Show the QR code of a new TOTP key and confirm it with a first code."""
    user = request.user
    if not user.is_staff_member or second_factor.confirmed_device(user):
        return redirect("web:otp_verify" if user.is_staff_member else "web:home")
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        if second_factor.confirm_enrolment(request, form.cleaned_data["token"]):
            return redirect("web:home")
        form.add_error("token", _("Код не подошёл. Проверьте время на телефоне."))
        status = 422
    device = second_factor.pending_device(user)
    context = {
        "form": form,
        "qr_svg": second_factor.qr_svg(device),
        "secret": device.bin_key.hex(),
        "config_url": device.config_url,
    }
    return render(request, "web/otp_enrol.html", context, status=status)


@login_required
def otp_verify(request):
    """Ask for the current TOTP code of a staff member's confirmed device."""
    user = request.user
    if not user.is_staff_member:
        return redirect("web:home")
    if second_factor.confirmed_device(user) is None:
        return redirect("web:otp_enrol")
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        if second_factor.verify(request, form.cleaned_data["token"]):
            return redirect("web:home")
        form.add_error("token", _("Код не подошёл или устарел."))
        status = 422
    return render(request, "web/otp_verify.html", {"form": form}, status=status)


def lockout_page(request, original_response=None, credentials=None, *args, **kwargs):
    """Render the sign-in page with a lockout message and 429, for django-axes."""
    message = _(
        "Слишком много неудачных попыток входа. Вход для этого имени с этого "
        "адреса заблокирован на %(minutes)d мин."
    ) % {"minutes": settings.AXES_COOLOFF_TIME.total_seconds() // 60}
    return _render_login(request, message, 429)
