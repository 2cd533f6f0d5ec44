"""The consultations behind one number, through the same access predicate as lists."""

import structlog
from django.db.models import Q
from django.utils.translation import gettext

from protokol.analytics.filters import Filters, analytics_scope, filter_q
from protokol.analytics.measures import MEASURES, fact_annotations, measure_q
from protokol.consultations import services
from protokol.errors import ValidationFailed

log = structlog.get_logger(__name__)

# The measures of few consultations, as filters on the stored facts that the
# partial indexes of ConsultationFacts cover. measure_q tests the same flags
# through annotations, which no index serves.
INDEXED_MEASURES = {
    "returned": Q(facts__returns__gt=0),
    "disputed": Q(facts__disputed=True),
    "dispute_concluded": Q(facts__dispute_concluded=True),
    "dispute_reopened": Q(facts__dispute_reopened=True),
}


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
    queryset = (
        services.list_consultations(user)
        .select_related(None)
        .filter(filter_q(filters))
        .filter(INDEXED_MEASURES.get(measure, Q()))
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
