"""Creating services (request types); each creation is journaled."""

from protokol.catalog.models import Service
from protokol.journal import services as journal
from protokol.journal.models import JournalAction


def ensure_service(
    code: str,
    *,
    name: str,
    department,
    name_en: str = "",
    required_fields=(),
    deadline_days: int = 30,
    actor=None,
) -> Service:
    """Return the service with `code`, creating it inside the caller's transaction."""
    service = Service.objects.filter(code=code).first()
    if service is not None:
        return service
    service = Service.objects.create(
        code=code,
        name=name,
        name_en=name_en,
        department=department,
        required_fields=list(required_fields),
        deadline_days=deadline_days,
    )
    journal.record(
        JournalAction.SERVICE_CREATE,
        actor=actor,
        object_type="service",
        object_id=service.pk,
        object_label=code,
        after={"department_id": department.pk, "deadline_days": deadline_days},
    )
    return service
