"""HTTP API of regulation deadlines and answer templates.

`consultation_router` is mounted under /api/v1/consultations and reads the
consultation through the same visibility rule and journal entry as the
other consultation reads; `templates_router` is mounted at /api/v1/templates.
"""

from datetime import datetime

from django.utils.translation import gettext
from ninja import Router, Schema
from pydantic import ConfigDict

from protokol.accounts.models import Department, Role
from protokol.api.schemas import PathInt
from protokol.catalog.models import Service
from protokol.consultations import permissions, services
from protokol.consultations.models import Visibility
from protokol.errors import NotFound, PermissionDenied, ValidationFailed
from protokol.validation import check_language
from protokol.workflow import answer_templates, expectations, extensions
from protokol.workflow.deadlines import deadline_rows

consultation_router = Router(tags=["deadlines and templates"])
templates_router = Router(tags=["deadlines and templates"])
services_router = Router(tags=["deadlines and templates"])


class DeadlineOut(Schema):
    target: str
    label: str
    amount: int
    unit: str
    started_at: datetime
    due_at: datetime
    stopped_at: datetime | None
    state: str
    state_label: str
    used_percent: int
    time_zone: str


class ExtensionIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    days: int
    reason: str


class SimilarOut(Schema):
    id: int
    number: str
    status: str
    subject: str
    created_at: datetime


class ExpectationsOut(Schema):
    service: str
    deadline_days: int
    typical_median_days: float | None
    typical_sample: int
    similar: list[SimilarOut]


class RenderedTemplateOut(Schema):
    code: str
    title: str
    text: str | None
    error: str | None


class TemplateIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    title: str
    body_ru: str
    body_en: str = ""
    service: str | None = None
    department: str | None = None


class TemplateOut(Schema):
    code: str
    title: str
    body_ru: str
    body_en: str
    service: str | None
    department: str | None
    variables: list[str]


@consultation_router.get("/{consultation_id}/deadlines", response=list[DeadlineOut])
def get_deadlines(request, consultation_id: PathInt):
    """Return each regulation target: due time, state and share used.

    Citizens get the times in their profile's time zone, staff in the
    department calendar's; `time_zone` names it.
    """
    consultation = services.read_consultation(request.user, consultation_id, via="api")
    return deadline_rows(consultation, viewer=request.user)


@consultation_router.post("/{consultation_id}/extend", response=list[DeadlineOut])
def post_extension(request, consultation_id: PathInt, body: ExtensionIn):
    """Extend the answer deadline once, by up to 30 days (supervisors)."""
    consultation = extensions.extend_deadline(
        request.user, consultation_id, days=body.days, reason=body.reason
    )
    return deadline_rows(consultation, viewer=request.user)


@consultation_router.get(
    "/{consultation_id}/templates", response=list[RenderedTemplateOut]
)
def get_rendered_templates(request, consultation_id: PathInt, lang: str = "ru"):
    """Return the answer templates for this consultation, filled in (staff only).

    A template that cannot be filled in has `text` null and the reason in
    `error`, so the operator sees which variable is unknown.
    """
    check_language(lang)
    consultation = services.read_consultation(request.user, consultation_id, via="api")
    if not permissions.can_post_message(
        request.user, consultation, Visibility.INTERNAL
    ):
        raise PermissionDenied(gettext("Only staff use answer templates."))

    rendered = []
    for template in answer_templates.templates_for(consultation):
        text, error = None, None
        try:
            text = answer_templates.render_for(template, consultation, language=lang)
        except ValidationFailed as failure:
            error = failure.message
        rendered.append(
            {
                "code": template.code,
                "title": template.title,
                "text": text,
                "error": error,
            }
        )
    return rendered


@services_router.get("/{code}/expectations", response=ExpectationsOut)
def get_expectations(request, code: str):
    """Return the service's typical processing time and the caller's similar requests.

    The typical time is the median over consultations signed in the last
    90 days; `similar` lists the caller's own open or recent consultations
    of the service (always empty for staff).
    """
    service = Service.objects.filter(code=code, is_active=True).first()
    if service is None:
        raise NotFound(
            gettext("Unknown service code '%(code)s'; GET /api/v1/services lists them.")
            % {"code": code}
        )
    typical = expectations.typical_days().get(service.pk)
    similar = []
    if request.user.role == Role.CITIZEN:
        similar = expectations.similar_for(request.user, service.pk)
    return {
        "service": service.code,
        "deadline_days": service.deadline_days,
        "typical_median_days": typical["median_days"] if typical else None,
        "typical_sample": typical["count"] if typical else 0,
        "similar": similar,
    }


@templates_router.put("/{code}", response=TemplateOut)
def put_template(request, code: str, body: TemplateIn):
    """Create or replace an answer template (admins and supervisors)."""
    service = _by_code(Service, body.service, field="service")
    department = _by_code(Department, body.department, field="department")
    template = answer_templates.save_template(
        request.user,
        code=code,
        title=body.title,
        body_ru=body.body_ru,
        body_en=body.body_en,
        service=service,
        department=department,
    )
    return _template_out(template)


@templates_router.get("", response=list[TemplateOut])
def list_templates(request):
    """Return the active answer templates (staff only)."""
    if not answer_templates.can_read_templates(request.user):
        raise PermissionDenied(gettext("Only staff use answer templates."))
    return [
        _template_out(t)
        for t in answer_templates.AnswerTemplate.objects.filter(
            is_active=True
        ).select_related("service", "department")
    ]


def _by_code(model, code: str | None, *, field: str):
    if code is None:
        return None
    found = model.objects.filter(code=code).first()
    if found is None:
        raise ValidationFailed(
            gettext("Unknown %(field)s code '%(code)s'.")
            % {"field": field, "code": code},
            field=field,
        )
    return found


def _template_out(template) -> dict:
    return {
        "code": template.code,
        "title": template.title,
        "body_ru": template.body_ru,
        "body_en": template.body_en,
        "service": template.service.code if template.service_id else None,
        "department": template.department.code if template.department_id else None,
        "variables": answer_templates.variables_in(template.body_ru),
    }
