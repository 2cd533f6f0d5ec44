"""Creating services (request types); each creation is journaled."""

from django.utils.translation import gettext

from protokol.accounts.models import Department
from protokol.catalog.fields import parse_definitions
from protokol.catalog.models import Service
from protokol.errors import ValidationFailed
from protokol.journal import services as journal
from protokol.journal.models import JournalAction
from protokol.validation import check_query_text


def ensure_service(
    code: str,
    *,
    name: str,
    department,
    name_en: str = "",
    data_fields=(),
    deadline_days: int = 30,
    actor=None,
) -> Service:
    """Return the service with `code`, creating it inside the caller's transaction.

    `data_fields` are field definitions as catalog/fields.py describes; an
    invalid one raises ValidationFailed naming it.
    """
    service = Service.objects.filter(code=code).first()
    if service is not None:
        return service
    definitions = [d.as_dict() for d in parse_definitions(list(data_fields))]
    service = Service.objects.create(
        code=code,
        name=name,
        name_en=name_en,
        department=department,
        data_fields=definitions,
        deadline_days=deadline_days,
    )
    journal.record(
        JournalAction.SERVICE_CREATE,
        actor=actor,
        object_type="service",
        object_id=service.pk,
        object_label=code,
        after={
            "department_id": department.pk,
            "deadline_days": deadline_days,
            "fields": [d["name"] for d in definitions],
        },
    )
    return service


def check_filter_codes(*, service: str = "", department: str = "") -> None:
    """Raise ValidationFailed for a filter's unknown service or department code.

    Retired services are known: a filter still finds their old requests.
    """
    check_query_text(service, field="service")
    check_query_text(department, field="department")
    if service and not Service.objects.filter(code=service).exists():
        raise ValidationFailed(
            gettext("Unknown service code '%(code)s'.") % {"code": service},
            field="service",
        )
    if department and not Department.objects.filter(code=department).exists():
        raise ValidationFailed(
            gettext("Unknown department code '%(code)s'.") % {"code": department},
            field="department",
        )
