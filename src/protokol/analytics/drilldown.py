"""The consultations behind one number, through the same access predicate as lists."""

import structlog
from django.utils.translation import gettext

from protokol.analytics.filters import Filters, analytics_scope, filter_q
from protokol.analytics.measures import MEASURES, fact_annotations, measure_q
from protokol.consultations import services
from protokol.errors import ValidationFailed

log = structlog.get_logger(__name__)


def drilldown(user, filters: Filters, measure: str):
    """Return the consultations `user` may open that a measure counts, newest first.

    The query starts from services.list_consultations, so the drill-down never
    shows a consultation that the lists would hide.
    """
    analytics_scope(user)
    if measure not in MEASURES:
        raise ValidationFailed(
            gettext("Unknown measure '%(measure)s'; use one of %(measures)s.")
            % {"measure": measure, "measures": ", ".join(MEASURES)},
            field="measure",
        )
    # NOTE: a measure that matches few consultations, such as
    # dispute_concluded, reads every consultation of the range to fill a
    # page and the capped count: about 0.35 s at 100,000 consultations on
    # PostgreSQL, all time. The daily aggregates do not narrow it yet.
    queryset = (
        services.list_consultations(user)
        .select_related(None)
        .filter(filter_q(filters))
        .annotate(**fact_annotations(filters.repeat_days))
        .filter(measure_q(measure))
        .order_by("-created_at", "-id")
    )
    log.info("analytics_drilldown", measure=measure, user_id=user.pk)
    return queryset


def journal_drilldown(user, filters: Filters, measure: str, count: int) -> None:
    """Journal that `user` read a drill-down list, like any list of consultations."""
    services.journal_list_read(
        user, count=count, filters={**filters.as_params(), "measure": measure}
    )
