"""Answer templates: {variable} substitution shared by operators and notifications."""

import string

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from protokol.accounts.models import STAFF_ROLES, Role
from protokol.errors import NotFound, PermissionDenied, ValidationFailed
from protokol.journal import services as journal
from protokol.journal.models import JournalAction
from protokol.validation import check_query_text, clean_text
from protokol.workflow.models import AnswerTemplate

VARIABLES = {
    "citizen_name": "имя гражданина",
    "consultation_number": "номер консультации",
    "deadline": "срок ответа (дата)",
    "department": "отдел",
    "operator": "исполнитель",
    "service": "услуга",
}


def can_read_templates(user) -> bool:
    """Tell whether `user` may list the answer templates: any member of staff."""
    return user.is_authenticated and user.role in STAFF_ROLES


def can_edit_templates(user) -> bool:
    """Tell whether `user` may create or change answer templates."""
    return user.is_authenticated and user.role in {Role.ADMIN, Role.SUPERVISOR}


def variables_in(text: str, *, field: str = "body_ru") -> list[str]:
    """Return the variable names `text` uses, in order of first use.

    Raises:
        ValidationFailed: unbalanced braces, a format spec, or a name that is
            not a plain identifier (attribute and index access are rejected).
    """
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as error:
        raise ValidationFailed(
            gettext(
                "The template has an unbalanced '{' or '}' (%(error)s); write "
                "'{{' or '}}' for a literal brace."
            )
            % {"error": error},
            field=field,
        ) from error
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValidationFailed(
                gettext(
                    "'{%(name)s}' is not a template variable; use plain names "
                    "such as {citizen_name}."
                )
                % {"name": name},
                field=field,
            )
        if name not in names:
            names.append(name)
    return names


def render(text: str, values: dict[str, str], *, field: str = "template") -> str:
    """Substitute `values` into `text`; an unknown variable raises and is named."""
    names = variables_in(text, field=field)
    unknown = [name for name in names if name not in values]
    if unknown:
        raise ValidationFailed(
            gettext(
                "Unknown template variable {%(name)s}; the variables are: %(known)s."
            )
            % {"name": unknown[0], "known": ", ".join(sorted(values))},
            field=field,
        )
    return text.format_map(values)


def consultation_values(consultation, *, language: str = "ru") -> dict[str, str]:
    """Return the template variables of a consultation, as text."""
    from protokol.workflow.deadlines import deadline_rows

    # The text goes to the citizen, so the date is in the citizen's zone.
    rows = deadline_rows(consultation, viewer=consultation.citizen)
    answer = next((row for row in rows if row["target"] == "answer"), None)
    english = language == "en"
    department = consultation.department
    department_name = (department.name_en if english else "") or department.name
    service = consultation.service
    return {
        "citizen_name": consultation.citizen.display_name,
        "consultation_number": consultation.number,
        "deadline": answer["due_at"].strftime("%d.%m.%Y") if answer else "",
        "department": department_name,
        # Until someone takes the consultation, its department handles it.
        "operator": (
            consultation.assignee.display_name
            if consultation.assignee_id
            else department_name
        ),
        "service": (service.name_en if english else "") or service.name,
    }


def templates_for(consultation) -> list[AnswerTemplate]:
    """Return the active templates for the consultation's service and department."""
    return list(
        AnswerTemplate.objects.filter(is_active=True)
        .filter(Q(service__isnull=True) | Q(service_id=consultation.service_id))
        .filter(
            Q(department__isnull=True) | Q(department_id=consultation.department_id)
        )
    )


def render_for(template: AnswerTemplate, consultation, *, language: str = "ru") -> str:
    """Render `template` for `consultation` in `language` (ru, or en if written)."""
    body = (
        template.body_en if language == "en" and template.body_en else template.body_ru
    )
    return render(body, consultation_values(consultation, language=language))


def save_template(
    actor,
    *,
    code: str,
    title: str,
    body_ru: str,
    body_en: str = "",
    service=None,
    department=None,
) -> AnswerTemplate:
    """Create or replace the template `code`; admins and supervisors only."""
    if not can_edit_templates(actor):
        raise PermissionDenied(gettext("Only admins and supervisors edit templates."))
    code = clean_text(code, field="code", max_length=64)
    title = clean_text(title, field="title", max_length=200)
    body_ru = clean_text(body_ru, field="body_ru")
    body_en = clean_text(body_en, field="body_en") if body_en.strip() else ""
    for field, body in (("body_ru", body_ru), ("body_en", body_en)):
        render(body, dict.fromkeys(VARIABLES, ""), field=field)

    with transaction.atomic():
        template, created = AnswerTemplate.objects.update_or_create(
            code=code,
            defaults={
                "title": title,
                "body_ru": body_ru,
                "body_en": body_en,
                "service": service,
                "department": department,
                "is_active": True,
                "updated_at": timezone.now(),
            },
        )
        journal.record(
            JournalAction.TEMPLATE_SAVE,
            actor=actor,
            object_type="answer_template",
            object_id=template.pk,
            object_label=code,
            after={"created": created, "variables": variables_in(body_ru)},
        )
    return template


def get_template(code: str) -> AnswerTemplate:
    """Return the active template `code` or raise NotFound."""
    # The code comes from the page's query string, and PostgreSQL rejects a
    # NUL in a query parameter.
    check_query_text(code, field="template")
    template = AnswerTemplate.objects.filter(code=code, is_active=True).first()
    if template is None:
        raise NotFound(
            gettext("No answer template with code '%(code)s'.") % {"code": code}
        )
    return template


DEMO_TEMPLATES = [
    (
        "received",
        "Обращение принято",
        "Здравствуйте, {citizen_name}! Ваше обращение {consultation_number} "
        "принято отделом «{department}». Ответ будет дан до {deadline}.",
        "Hello, {citizen_name}. Your request {consultation_number} has been "
        "accepted by {department}. You will get an answer by {deadline}.",
    ),
    (
        "documents",
        "Запрос документов",
        "{citizen_name}, для рассмотрения обращения {consultation_number} по "
        "услуге «{service}» приложите, пожалуйста, копии документов. "
        "Исполнитель: {operator}.",
        "{citizen_name}, to consider request {consultation_number} for the "
        "service {service}, please attach copies of the documents. "
        "Handled by {operator}.",
    ),
]


def seed_demo_templates(actor) -> None:
    """Create the demo answer templates that are missing, in `actor`'s name."""
    for code, title, body_ru, body_en in DEMO_TEMPLATES:
        if not AnswerTemplate.objects.filter(code=code).exists():
            save_template(
                actor, code=code, title=title, body_ru=body_ru, body_en=body_en
            )
