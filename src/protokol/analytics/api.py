"""Analytics at /api/v1/analytics: the numbers of the pages as JSON.

Times are in seconds and shares are fractions from 0 to 1. A null value means
there is no data for it.
"""

from django.utils.translation import gettext
from ninja import Query, Router, Schema

from protokol.analytics import comparison, drilldown, measures
from protokol.analytics.filters import analytics_scope, parse_filters
from protokol.errors import ValidationFailed
from protokol.web.paging import capped_count, check_page

router = Router(tags=["analytics"])

MAX_PAGE = 100


class FiltersIn(Schema):
    date_from: str | None = None
    date_to: str | None = None
    service: str | None = None
    department: str | None = None
    district: str | None = None
    channel: str | None = None
    operator: str | None = None
    granularity: str | None = None
    repeat_days: str | None = None


def _filters(request, params: FiltersIn):
    analytics_scope(request.user)
    return parse_filters(params.dict())


def _choice(value: str | None, allowed: tuple, field: str, default=None):
    if value in (None, ""):
        if default is None:
            raise ValidationFailed(
                gettext("%(field)s is required.") % {"field": field}, field=field
            )
        return default
    if value not in allowed:
        raise ValidationFailed(
            gettext("%(field)s must be one of %(values)s.")
            % {"field": field, "values": ", ".join(allowed)},
            field=field,
        )
    return value


def _rows(rows: list[dict]) -> list[dict]:
    plain = []
    for row in rows:
        plain.append({**row, "key": _plain(row["key"])})
        if "param" in row:
            plain[-1]["param"] = _plain(row["param"])
    return plain


def _plain(value):
    value = measures.exported_key(value)
    return value.isoformat() if hasattr(value, "isoformat") else value


@router.get("/statistics")
def statistics(request, params: Query[FiltersIn], by: str | None = None):
    """Return the statistics per service, department, district, channel, operator
    or period, and the total of the selection."""
    filters = _filters(request, params)
    by = _choice(by, measures.DIMENSIONS, "by", default="service")
    tables = measures.statistics_tables(request.user, filters, (None, by))
    (total,) = tables[None] or [_empty_total()]
    return {
        "filters": filters.as_params(),
        "by": by,
        "total": _rows([total])[0],
        "rows": _rows(tables[by]),
    }


def _empty_total() -> dict:
    row = {"key": "all", "label": "—", "param": "all"}
    row.update({column: 0 for column in measures.COLUMNS})
    for column in measures.COLUMNS:
        if column.endswith(("_s", "_share")):
            row[column] = None
    return row


@router.get("/comparison")
def compare(request, params: Query[FiltersIn], by: str | None = None):
    """Return operators or departments with indexes adjusted for their service mix."""
    filters = _filters(request, params)
    by = _choice(by, comparison.COMPARED, "by", default="department")
    rows = comparison.comparison_rows(request.user, filters, by)
    return {"filters": filters.as_params(), "by": by, "rows": _rows(rows)}


@router.get("/problems")
def problems(
    request,
    params: Query[FiltersIn],
    threshold: str | None = None,
    min_count: str | None = None,
):
    """Return services and districts whose last period grew against their history."""
    filters = _filters(request, params)
    threshold, min_count = comparison.problem_parameters(
        {"threshold": threshold, "min_count": min_count}
    )
    result = comparison.problem_areas(
        request.user, filters, threshold=threshold, min_count=min_count
    )
    result.pop("last_period_start", None)
    for by in comparison.PROBLEM_DIMENSIONS:
        result[by] = _rows(result[by])
    return {"filters": filters.as_params(), **result}


@router.get("/consultations")
def consultations(
    request,
    params: Query[FiltersIn],
    measure: str = "all",
    limit: int = 50,
    offset: int = 0,
):
    """Return the consultations behind a number: ids, numbers and subjects."""
    filters = _filters(request, params)
    check_page(limit, offset, MAX_PAGE)
    queryset = drilldown.drilldown(request.user, filters, measure)
    total, more = capped_count(queryset)
    page = list(
        queryset.values("id", "number", "subject", "status", "created_at")[
            offset : offset + limit
        ]
    )
    drilldown.journal_drilldown(request.user, filters, measure, len(page))
    return {
        "filters": filters.as_params(),
        "measure": measure,
        "total": total,
        "more": more,
        "items": page,
    }
