"""Pages outside one consultation: sign-in, home, lists and the request form."""

import structlog
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext
from django.views.decorators.http import require_POST

from protokol.accounts.models import Role
from protokol.accounts.services import journal_failed_login, journal_login
from protokol.catalog.models import Service
from protokol.consultations import lifecycle, services
from protokol.consultations.models import Channel, Status
from protokol.errors import ProtokolError
from protokol.web import identity_views
from protokol.web.forms import (
    ConsultationForm,
    ListFilterForm,
    LoginForm,
    add_service_error,
    localized_name,
)
from protokol.web.paging import CappedPaginator
from protokol.workflow import expectations
from protokol.workflow.deadlines import display_zones

log = structlog.get_logger(__name__)

PAGE_SIZE = 25
# States in which a passed deadline no longer matters.
FINISHED_STATUSES = lifecycle.SEALED_STATUSES | lifecycle.CLOSED_STATUSES


def is_overdue(consultation, now=None) -> bool:
    """Return whether the deadline has passed while the consultation is still open."""
    if consultation.deadline is None or consultation.status in FINISHED_STATUSES:
        return False
    return consultation.deadline < (now or timezone.now())


def login_view(request):
    """Show the sign-in form and journal every attempt that names a user."""
    if request.user.is_authenticated:
        return redirect("web:home")
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = ""

    form = LoginForm(request, data=request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            user = form.get_user()
            login(request, user)
            journal_login(user, via="web")
            return redirect(next_url or "web:home")
        username = request.POST.get("username", "").strip()
        if username:
            journal_failed_login(username, via="web")
        # A wrong password gets 401, as on the API. An empty field gets 422.
        rejected = form.has_error(NON_FIELD_ERRORS)
        status = 401 if rejected else 422

    context = {
        "form": form,
        "next": next_url,
        "sign_in_options": identity_views.sign_in_options(),
    }
    return render(request, "web/login.html", context, status=status)


@require_POST
def logout_view(request):
    logout(request)
    return redirect("web:login")


@login_required
def home(request):
    """Send each role to the list it works from."""
    role = request.user.role
    if role == Role.CITIZEN:
        return redirect("web:my_consultations")
    if role == Role.REVIEWER:
        return redirect("web:review_queue")
    return redirect("web:queue")


def _list_page(request, *, template: str, title: str, fixed_status: str | None = None):
    """Render a filtered, paginated list of the consultations the user may see."""
    form = ListFilterForm(request.GET or None)
    status = fixed_status
    query = ""
    if form.is_bound and form.is_valid():
        status = fixed_status or form.cleaned_data["status"] or None
        query = form.cleaned_data["q"].strip()

    context = {
        "title": title,
        "form": form,
        "fixed_status": fixed_status,
    }
    if form.is_bound and not form.is_valid():
        context.update(page=None, rows=[])
        return render(request, template, context, status=422)
    try:
        queryset = services.list_consultations(request.user, status=status, q=query)
    except ProtokolError as exc:
        log.info("page_request_rejected", page="list", error=exc.code)
        add_service_error(form, exc)
        context.update(page=None, rows=[])
        return render(request, template, context, status=exc.status)

    page = CappedPaginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    # Each row's dates are in the zone of its consultation page for this viewer.
    zones = display_zones(request.user, page.object_list)
    rows = [(c, is_overdue(c, now), zones[c.pk]) for c in page.object_list]
    services.journal_list_read(
        request.user,
        count=len(rows),
        filters={"status": status, "q": query, "page": page.number},
    )

    # Page links keep the filters, so the query string is built once here.
    filters = request.GET.copy()
    filters.pop("page", None)
    context.update(page=page, rows=rows, filter_query=filters.urlencode())
    return render(request, template, context)


@login_required
def my_consultations(request):
    if request.user.role != Role.CITIZEN:
        return redirect("web:home")
    return _list_page(
        request, template="web/my_consultations.html", title=_("Мои консультации")
    )


@login_required
def queue(request):
    """Render the department queue, or all consultations for organisation-wide staff."""
    user = request.user
    if not user.is_staff_member:
        return redirect("web:home")
    if user.all_departments:
        title = _("Все консультации")
    else:
        names = ", ".join(
            localized_name(d.name, d.name_en) for d in user.departments.all()
        )
        title = _("Очередь отдела: %(departments)s") % {"departments": names}
    return _list_page(request, template="web/queue.html", title=title)


@login_required
def review_queue(request):
    if not request.user.is_staff_member:
        return redirect("web:home")
    return _list_page(
        request,
        template="web/queue.html",
        title=_("На согласовании"),
        fixed_status=Status.IN_REVIEW,
    )


@login_required
def new_consultation(request):
    """Open a consultation in the citizen's name through the service layer."""
    if request.user.role != Role.CITIZEN:
        return redirect("web:home")

    form = ConsultationForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                consultation = services.create_consultation(
                    request.user,
                    service_code=form.cleaned_data["service"],
                    subject=form.cleaned_data["subject"],
                    description=form.cleaned_data["description"],
                    channel=Channel.WEB,
                )
            except ProtokolError as exc:
                log.info("page_request_rejected", page="new", error=exc.code)
                add_service_error(form, exc)
                status = exc.status
            else:
                messages.success(
                    request,
                    _("Консультация %(number)s зарегистрирована.")
                    % {"number": consultation.number},
                )
                return redirect("web:consultation", consultation_id=consultation.pk)
        else:
            status = 422

    context = {"form": form, "expectations": _expectations(request.user)}
    return render(request, "web/new_consultation.html", context, status=status)


def _expectations(citizen) -> list[dict]:
    """Return each active service's typical time and the citizen's similar requests.

    The rows are sorted by the service name the page shows.
    """
    typical = expectations.typical_days()
    rows = []
    for service in Service.objects.filter(is_active=True):
        answered = typical.get(service.pk)
        time = typical_time(answered["median_seconds"]) if answered else ""
        rows.append(
            {
                "name": localized_name(service.name, service.name_en),
                "typical": answered,
                "typical_time": time,
                "deadline_days": service.deadline_days,
                "similar": expectations.similar_for(citizen, service.pk),
            }
        )
    return sorted(rows, key=lambda row: row["name"].casefold())


def typical_time(seconds: float) -> str:
    """Return a median answer time in days, in hours under a day, or as under an hour.

    Days keep one decimal, as the API's typical_median_days does.
    """
    if seconds < 3600:
        return _("меньше часа")
    if seconds < 86400:
        hours = round(seconds / 3600)
        return ngettext("%(hours)d ч", "%(hours)d ч", hours) % {"hours": hours}
    days = number_format(round(seconds / 86400, 1), decimal_pos=1)
    return _("%(days)s дн.") % {"days": days}


def not_found(request, exception=None):
    return render(request, "web/not_found.html", status=404)


def forbidden(request, exception=None):
    """Render the styled 403 page for a page the user's role may not open."""
    message = _(
        "У вас нет доступа к этой странице. Войдите под учётной записью с "
        "нужной ролью или вернитесь на главную."
    )
    return render(
        request, "web/error.html", {"error": {"message": message}}, status=403
    )


# Marked for extraction only: the view translates it into the request's language.
CSRF_MESSAGE = gettext_noop(
    "Форма устарела: её открыли до последнего входа или выхода. Обновите "
    "страницу и отправьте форму ещё раз. Если ошибка повторится, разрешите "
    "этому сайту сохранять cookie."
)


def csrf_failure(request, reason=""):
    """Render the styled 403 page for a form sent with a missing or old CSRF token.

    A form opened before the last sign-in or sign-out carries an old token.
    """
    log.info("csrf_failed", reason=reason)
    context = {"error": {"message": _(CSRF_MESSAGE)}}
    return render(request, "web/error.html", context, status=403)
