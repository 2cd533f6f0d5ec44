"""Routing: which department receives a new consultation."""

import structlog

from protokol.accounts.models import Department
from protokol.catalog.models import Service
from protokol.consultations.models import search_key
from protokol.workflow.models import RoutingRule

log = structlog.get_logger(__name__)


def route(
    service: Service, *, subject: str, description: str, district: str = ""
) -> Department:
    """Return the department of the first matching rule, else the service's.

    Conditions left empty in a rule match anything. Without a matching rule
    the service's own department receives it, as before rules existed.
    """
    text = search_key(f"{subject} {description}")
    for rule in RoutingRule.objects.filter(is_active=True).select_related("department"):
        if rule.service_id is not None and rule.service_id != service.pk:
            continue
        if rule.district and rule.district.casefold() != district.casefold():
            continue
        keywords = rule.keyword_list()
        if keywords and not any(keyword in text for keyword in keywords):
            continue
        log.info(
            "consultation_routed", rule_id=rule.pk, department=rule.department.code
        )
        return rule.department
    return service.department
