"""The public page that checks a protocol copy, without signing in."""

import dataclasses
import re
from datetime import datetime

import structlog
from django import forms
from django.conf import settings
from django.shortcuts import render
from django.utils import translation
from django.utils.dateformat import format as format_date
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from protokol.documents import public
from protokol.errors import PayloadTooLarge, ProtokolError
from protokol.journal.checkpoints import SigningKeyMissing
from protokol.profiles.services import zone_of
from protokol.signing.pki import PkiNotConfigured
from protokol.web.forms import PageForm

log = structlog.get_logger(__name__)


class CodeForm(PageForm):
    number = forms.CharField(label=_("Номер протокола"), max_length=32)
    code = forms.CharField(label=_("Код проверки"), max_length=32)


class UploadForm(PageForm):
    file = forms.FileField(label=_("Файл копии (PDF)"))


@require_http_methods(["GET", "POST"])
def verify_page(request):
    """Check a copy by number and code (GET) or by uploading its PDF (POST)."""
    code_form = CodeForm(request.GET if "number" in request.GET else None)
    if request.method == "POST":
        upload_form = UploadForm(request.POST, request.FILES)
    else:
        upload_form = UploadForm()
    context = {"code_form": code_form, "upload_form": upload_form}
    status = 200
    report = None
    try:
        if request.method == "POST":
            report = _check_upload(request, upload_form)
        elif code_form.is_bound:
            report = _check_code(request, code_form)
    except public.TooManyRequests as error:
        context["error"] = error
        status = error.status
    except PkiNotConfigured as error:
        log.error("public_verify_pki_missing", error=str(error))
        context["error"] = ProtokolError(
            gettext("Checking is not available: the signing PKI is not set up.")
        )
        status = 503
    except SigningKeyMissing as error:
        with translation.override("en"):
            log.error("public_verify_journal_key_missing", error=str(error))
        # The error names the key file, which a public page must not show.
        context["error"] = ProtokolError(
            gettext(
                "Checking is not available: the journal's checkpoint key is not set up."
            )
        )
        status = 503
    except ProtokolError as error:
        form = upload_form if request.method == "POST" else code_form
        form.add_error(
            error.field if error.field in form.fields else None, error.message
        )
        status = error.status
    if any(form.errors for form in (code_form, upload_form)) and status == 200:
        status = 422
    if report is not None:
        context["report"] = with_local_times(report, zone_of(request.user))
    response = render(request, "web/verify.html", context, status=status)
    if isinstance(context.get("error"), public.TooManyRequests):
        response["Retry-After"] = str(context["error"].retry_after)
    return response


# A time in the checks' details. The command line prints the same checks, with
# times in UTC as journal.canonical.format_time writes them.
UTC_TIME = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z\b")


def with_local_times(report: public.PublicReport, zone) -> public.PublicReport:
    """Return the report with each UTC time in its checks shown in `zone`.

    A time reads as on the other pages, day first, followed by the zone's name,
    because a visitor who is not signed in gets the default zone.
    """

    def local(match: re.Match) -> str:
        moment = datetime.fromisoformat(match[0]).astimezone(zone)
        return f"{format_date(moment, 'd.m.Y H:i')} ({zone.key})"

    checks = [
        dataclasses.replace(check, detail=UTC_TIME.sub(local, check.detail))
        for check in report.checks
    ]
    return dataclasses.replace(report, checks=checks)


def _check_upload(request, form):
    if not form.is_valid():
        return None
    public.check_rate(request.META.get("REMOTE_ADDR", ""))
    # Read into memory and dropped with the request; nothing is stored.
    upload = form.cleaned_data["file"]
    limit = settings.CONFIG.max_upload_bytes
    if upload.size > limit:
        raise PayloadTooLarge(
            gettext("The file is larger than %(limit)d bytes.") % {"limit": limit},
            field="file",
        )
    return public.verify_upload(upload.read())


def _check_code(request, form):
    if not form.is_valid():
        return None
    public.check_rate(request.META.get("REMOTE_ADDR", ""))
    return public.verify_code(form.cleaned_data["number"], form.cleaned_data["code"])
