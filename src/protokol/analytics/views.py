"""Analytics pages: statistics with charts, comparison, problem areas, drill-down
and CSV or XLSX exports. Every number comes from the same functions as the API."""

import functools
from urllib.parse import urlencode

import structlog
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from protokol.analytics import charts, comparison, drilldown, exports, measures
from protokol.analytics.filters import (
    Filters,
    can_view_analytics,
    parse_filters,
)
from protokol.analytics.forms import AnalyticsFilterForm
from protokol.errors import PermissionDenied, ProtokolError, ValidationFailed
from protokol.web.forms import add_service_error
from protokol.web.paging import CappedPaginator

log = structlog.get_logger(__name__)

PAGE_SIZE = 50
FILE_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def group_title(by: str) -> str:
    # Looked up at request time so the page's language applies.
    return {
        "service": _("Услуга"),
        "department": _("Отдел"),
        "district": _("Район"),
        "channel": _("Канал"),
        "operator": _("Оператор"),
        "period": _("Период"),
    }[by]


def analytics_page(view):
    """Require a signed-in member of staff; citizens get 403."""

    @login_required
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not can_view_analytics(request.user):
            error = PermissionDenied(_("Statistics are available to staff only."))
            log.info("analytics_denied", user_id=request.user.pk)
            return render(request, "web/error.html", {"error": error}, status=403)
        form = AnalyticsFilterForm(request.user, request.GET or None)
        try:
            filters = parse_filters(request.GET)
        except ProtokolError as exc:
            _add_filter_error(form, exc)
            context = {"form": form, "failed": True}
            return render(request, "analytics/error.html", context, status=exc.status)
        return view(request, form, filters, *args, **kwargs)

    return wrapper


def _add_filter_error(form, exc: ProtokolError) -> None:
    """Attach a filter error to its field in place of the form's own errors.

    The form checks the same value, but only parse_filters and the views
    name the accepted values, so the field shows that message alone.
    """
    if exc.field in form.errors:
        del form.errors[exc.field]
    add_service_error(form, exc)


def _choice(request, name: str, allowed, default: str) -> str:
    value = request.GET.get(name) or default
    if value not in allowed:
        raise ValidationFailed(
            _("%(field)s must be one of %(values)s.")
            % {"field": name, "values": ", ".join(allowed)},
            field=name,
        )
    return value


def drill_url(filters: Filters, **narrow) -> str:
    """Return the drill-down link of a group within `filters`, narrowed further.

    Templates append "&measure=…" to list the consultations of one number.
    """
    params = {**filters.as_params(), **narrow}
    return reverse("analytics:consultations") + "?" + urlencode(params)


def _group_link(by: str, row: dict, filters: Filters) -> str:
    """Return the drill-down link of a table row, or "" when no filter selects it.

    The filters cannot select consultations without a district or without an
    assignee, and a link without the group's filter would list the whole
    selection.
    """
    # TODO: add filter values for "no district" and "no assignee", which the
    # daily aggregates would need to read too, and link these groups.
    if by == "period":
        first, last = measures.period_bounds(row["key"], filters.granularity)
        return drill_url(filters, date_from=first.isoformat(), date_to=last.isoformat())
    if row["key"] in (None, ""):
        return ""
    return drill_url(filters, **{by: row["key"]})


def _bad_request(request, form, exc: ProtokolError):
    # Errors attach only to a bound, cleaned form, so an empty query binds one.
    if not form.is_bound:
        form = AnalyticsFilterForm(request.user, {})
    form.is_valid()
    _add_filter_error(form, exc)
    return render(
        request,
        "analytics/error.html",
        {"form": form, "failed": True},
        status=exc.status,
    )


@analytics_page
def overview(request, form, filters: Filters):
    """Render the totals, the charts per period and the table per group."""
    try:
        by = _choice(request, "by", measures.DIMENSIONS, "service")
    except ProtokolError as exc:
        return _bad_request(request, form, exc)
    tables = measures.statistics_tables(request.user, filters, (None, "period", by))
    totals, periods, rows = tables[None], tables["period"], tables[by]
    total = totals[0] if totals else None
    for row in periods:
        row["link"] = _group_link("period", row, filters)
    for row in rows:
        row["link"] = _group_link(by, row, filters)
    context = {
        "form": form,
        "filters": filters,
        "by": by,
        "by_choices": [(name, group_title(name)) for name in measures.DIMENSIONS],
        "group_title": group_title(by),
        "total": total,
        "rows": rows,
        "periods": periods,
        "count_chart": _count_chart(periods),
        "time_chart": _time_chart(periods),
        "query": urlencode({**filters.as_params(), "by": by}),
        "total_link": drill_url(filters),
    }
    return render(request, "analytics/overview.html", context)


def _count_chart(periods: list[dict]):
    return charts.bar_chart(
        _("Консультации по периодам"),
        [(row["label"], row["total"], row["link"]) for row in periods],
    )


def _time_chart(periods: list[dict]):
    groups = []
    for row in periods:
        bars = []
        for key in ("processing_median_s", "processing_p90_s"):
            value = row[key]
            days = None if value is None else value / 86400
            bars.append((days, charts.days(value), row["link"]))
        groups.append((row["label"], bars))
    return charts.grouped_bar_chart(
        _("Время обработки по периодам, дней"),
        groups,
        [_("медиана"), _("90-й процентиль")],
    )


@analytics_page
def compare(request, form, filters: Filters):
    """Render operators or departments with indexes adjusted for their services."""
    try:
        by = _choice(request, "by", comparison.COMPARED, "department")
    except ProtokolError as exc:
        return _bad_request(request, form, exc)
    rows = comparison.comparison_rows(request.user, filters, by)
    for row in rows:
        row["link"] = _group_link(by, row, filters)
    context = {
        "form": form,
        "filters": filters,
        "by": by,
        "group_title": group_title(by),
        "rows": rows,
        "query": urlencode({**filters.as_params(), "by": by, "table": "comparison"}),
    }
    return render(request, "analytics/compare.html", context)


@analytics_page
def problems(request, form, filters: Filters):
    """Render the services and districts whose last period grew."""
    try:
        threshold, min_count = comparison.problem_parameters(request.GET)
    except ProtokolError as exc:
        return _bad_request(request, form, exc)
    result = comparison.problem_areas(
        request.user, filters, threshold=threshold, min_count=min_count
    )
    last_period = {}
    if result["last_period"]:
        first, last = measures.period_bounds(
            result["last_period_start"], filters.granularity
        )
        last_period = {"date_from": first, "date_to": last}
    for by in comparison.PROBLEM_DIMENSIONS:
        for row in result[by]:
            row["link"] = _group_link(by, row, filters.narrowed(**last_period))
    return render(
        request,
        "analytics/problems.html",
        {
            "form": form,
            "filters": filters,
            "result": result,
            "thresholds": (f"{threshold:g}", min_count),
        },
    )


@analytics_page
def consultations(request, form, filters: Filters):
    """Render the consultations behind a number, numbers and subjects only."""
    measure = request.GET.get("measure") or "all"
    try:
        queryset = drilldown.drilldown(request.user, filters, measure)
    except ProtokolError as exc:
        return _bad_request(request, form, exc)
    page = CappedPaginator(
        queryset.only("id", "number", "subject", "status", "created_at"), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    drilldown.journal_drilldown(request.user, filters, measure, len(page.object_list))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "filters": filters,
        "measure": measure,
        "page": page,
        "filter_query": query.urlencode(),
    }
    return render(request, "analytics/consultations.html", context)


@analytics_page
def export(request, form, filters: Filters, file_format: str):
    """Send the statistics or comparison table as CSV or XLSX."""
    try:
        if file_format not in FILE_TYPES:
            raise ValidationFailed(
                _("The export format must be csv or xlsx."), field="format"
            )
        kind = _choice(request, "table", ("statistics", "comparison"), "statistics")
        if kind == "comparison":
            by = _choice(request, "by", comparison.COMPARED, "department")
            rows = comparison.comparison_rows(request.user, filters, by)
            columns = exports.COMPARISON_COLUMNS
        else:
            by = _choice(request, "by", measures.DIMENSIONS, "service")
            rows = measures.statistics_rows(request.user, filters, by)
            columns = measures.COLUMNS
    except ProtokolError as exc:
        return _bad_request(request, form, exc)

    lines = exports.table(rows, group_title(by), columns)
    name = f"protokol-{kind}-{by}"
    if file_format == "csv":
        content = exports.to_csv(lines)
    else:
        content = exports.to_xlsx(lines, sheet_title=group_title(by))
    log.info("analytics_exported", kind=kind, by=by, format=file_format, rows=len(rows))
    response = HttpResponse(content, content_type=FILE_TYPES[file_format])
    response["Content-Disposition"] = f'attachment; filename="{name}.{file_format}"'
    return response
