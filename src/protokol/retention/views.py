"""Pages: the citizen's privacy page (export, erasure) and the staff request list."""

import structlog
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from protokol.accounts.models import Role
from protokol.errors import ProtokolError
from protokol.profiles.services import zone_of
from protokol.retention import erasure, export
from protokol.retention.services import READER_ROLES

log = structlog.get_logger(__name__)


@login_required
def privacy_page(request):
    """Show the citizen's rights: download all data, or request erasure."""
    if request.user.role != Role.CITIZEN:
        return redirect("retention:requests")
    return render(request, "retention/privacy.html", {"title": _("Privacy")})


@login_required
def export_download(request):
    """Send the citizen's data as one zip archive."""
    if request.user.role != Role.CITIZEN:
        raise PermissionDenied
    return export.export_response(request.user)


@login_required
@require_POST
def erasure_submit(request):
    """Erase the citizen's personal data and show what was kept and why."""
    if request.user.role != Role.CITIZEN:
        raise PermissionDenied
    # Read before the erasure signs the citizen out, for the page's dates.
    zone = zone_of(request.user)
    try:
        answer = erasure.request_erasure(
            request.user, confirm=request.POST.get("confirm") == "on"
        )
    except ProtokolError as exc:
        log.info("page_request_rejected", page="erasure", error=exc.code)
        context = {"title": _("Privacy"), "error": exc.message}
        return render(request, "retention/privacy.html", context, status=exc.status)

    # The account is deactivated, so the session ends with this page.
    logout(request)
    context = {
        "title": _("Your data was erased"),
        "answer": answer,
        "viewer_zone": zone,
    }
    return render(request, "retention/erasure_done.html", context)


@login_required
def requests_page(request):
    """List the erasure requests and their answers (supervisors, auditors, admins)."""
    if request.user.role not in READER_ROLES:
        raise PermissionDenied
    context = {
        "title": _("Erasure requests"),
        "requests": erasure.erasure_requests(request.user, via="page"),
        "viewer_zone": zone_of(request.user),
    }
    return render(request, "retention/requests.html", context)
