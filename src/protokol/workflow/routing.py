"""Routing: which department receives a new consultation."""

import structlog
from django.conf import settings

from protokol.accounts.models import Department
from protokol.catalog.models import Service
from protokol.consultations.models import search_key
from protokol.workflow.models import RoutingRule

log = structlog.get_logger(__name__)


def route(
    service: Service, *, subject: str, description: str, district: str = ""
) -> Department:
    """Return the department of the first matching rule, else the fallback.

    Conditions left empty in a rule match anything. Without a matching rule
    the triage department (PROTOKOL_TRIAGE_DEPARTMENT) receives it when one
    is set, and otherwise the service's own department, as before rules
    existed.
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
    return _unmatched_department(service)


def _unmatched_department(service: Service) -> Department:
    code = settings.CONFIG.triage_department
    if not code:
        return service.department
    triage = Department.objects.filter(code=code).first()
    if triage is None:
        log.error("triage_department_missing", department=code, service=service.code)
        return service.department
    log.info("consultation_triaged", department=code, service=service.code)
    return triage
