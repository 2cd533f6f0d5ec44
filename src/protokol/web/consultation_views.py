"""The consultation page and the forms posted from it; services make every change."""

import structlog
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.forms import Textarea
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from protokol.accounts.models import STAFF_ROLES
from protokol.api.api import attachment_response, pdf_response
from protokol.consultations import attachments, lifecycle, permissions, services
from protokol.consultations.models import Channel, Status, Visibility
from protokol.consultations.presenters import consultation_detail
from protokol.documents import jobs as copy_jobs
from protokol.errors import NotFound, PermissionDenied, ProtokolError
from protokol.imports.portal_facts import portal_facts
from protokol.protocols import services as protocols
from protokol.signing import acknowledgement
from protokol.web import data_request_views, forms
from protokol.web.labels import MAIN_PATH
from protokol.web.personal_views import data_context
from protokol.web.views import FINISHED_STATUSES, is_overdue, not_found
from protokol.workflow import answer_templates, extensions
from protokol.workflow.deadlines import deadline_rows, display_zone

log = structlog.get_logger(__name__)


def _progress_steps(status: str, transitions: list[dict]) -> list[dict]:
    """Return the main-path steps, each marked done, skipped, current or ahead.

    A step counts as done only if some transition led to it, so an imported
    appeal that went from drafting straight to signed shows review and
    approval as skipped. The anchor is the current status, or for a status
    off the main path (data requested, withdrawn, disputed) the main-path
    status reached last, and the off-path status follows it as the current
    step. A withdrawn consultation goes no further, so no step is ahead.
    """
    reached = {Status.INITIATED} | {t["to_status"] for t in transitions}
    if status in MAIN_PATH:
        anchor = status
    else:
        main_path_targets = [
            t["to_status"] for t in transitions if t["to_status"] in MAIN_PATH
        ]
        anchor = main_path_targets[-1] if main_path_targets else Status.INITIATED
    anchor_index = MAIN_PATH.index(anchor)

    steps = []
    for index, step in enumerate(MAIN_PATH):
        if index < anchor_index:
            state = "done" if step in reached else "skipped"
        elif index == anchor_index:
            state = "current" if step == status else "done"
        elif status == Status.WITHDRAWN:
            continue
        else:
            state = "ahead"
        steps.append({"status": step, "state": state})

    if status not in MAIN_PATH:
        steps.insert(anchor_index + 1, {"status": status, "state": "current"})
    return steps


def _timeline(detail: dict) -> list[dict]:
    """Return the registration followed by every recorded transition, oldest first.

    Each event carries `facts`: the portal's facts of an imported step.
    """
    registered = {
        "action": "create",
        "from_status": "",
        "to_status": Status.INITIATED,
        "actor": detail["citizen"],
        "comment": "",
        "details": {"channel": detail["channel"]},
        "created_at": detail["created_at"],
    }
    return [
        {**event, "facts": portal_facts(event["action"], event["details"])}
        for event in [registered, *detail["transitions"]]
    ]


# The note under the dialogue once no one can write to it any more.
SEALED_NOTES = {
    Status.SIGNED: gettext_lazy("Протокол подписан: переписка закрыта."),
    Status.ARCHIVED: gettext_lazy("Консультация в архиве: переписка закрыта."),
    Status.DISPUTED: gettext_lazy(
        "Ответ оспорен: переписка закрыта, спор рассматривает руководитель."
    ),
}


def _message_form(user, consultation, data=None) -> forms.MessageForm:
    form = forms.MessageForm(data)
    if not permissions.can_post_message(user, consultation, Visibility.INTERNAL):
        # Citizens write only public messages, so they get no choice.
        del form.fields["visibility"]
    return form


def _template_message_form(user, consultation, code: str, language: str):
    """Return the reply form filled with a rendered template, or with its error."""
    form = _message_form(user, consultation)
    try:
        template = answer_templates.get_template(code)
        form.initial["text"] = answer_templates.render_for(
            template, consultation, language=language
        )
    except ProtokolError as error:
        # An unbound form shows no errors, so bind it to the empty text.
        form = _message_form(user, consultation, {"text": "", "visibility": "public"})
        form.is_valid()
        form.errors.clear()
        form.add_error(None, error.message)
    return form


def _protocol_initial(detail: dict) -> dict:
    """Return the latest version's fields, or the question alone for a first draft."""
    latest = detail["protocol"]
    if latest is None:
        return {"question": detail["description"]}
    return {name: latest[name] for name in protocols.PROTOCOL_FIELDS}


# Anchor of each form on the page, linked from the error summary at the top.
FORM_ANCHORS = {
    "message_form": "reply",
    "attachment_form": "upload-form",
    "protocol_form": "protocol-form",
    "transition_form": "actions-form",
    "forward_form": "forward-form",
    "extension_form": "extension-form",
    "data_form": "personal-data",
    **data_request_views.FORM_ANCHORS,
}


def _show_current_version(page_forms: dict, version: int) -> None:
    """Make every versioned form post the version the page shows now.

    A form sent back after a conflict keeps what the person typed but takes
    the current version, so sending it again after a look at the changes
    goes through.
    """
    for form in page_forms.values():
        if "base_version" not in form.fields:
            continue
        if form.is_bound:
            form.data = form.data.copy()
            form.data["base_version"] = str(version)
        else:
            form.initial["base_version"] = version


def _render_page(
    request,
    consultation_id,
    *,
    status: int = 200,
    acknowledge_error: str = "",
    **bound_forms,
):
    """Render the consultation page, with any posted form kept as it was sent.

    `document_id` in `bound_forms` names the checklist entry of a posted
    document form.
    """
    document_id = bound_forms.pop("document_id", None)
    user = request.user
    try:
        consultation = services.read_consultation(user, consultation_id, via="page")
    except NotFound:
        return not_found(request)
    detail = consultation_detail(consultation, user)

    can_reply = permissions.can_post_message(user, consultation, Visibility.PUBLIC)
    can_edit = (
        permissions.can_edit_protocol(user, consultation)
        and consultation.status in protocols.EDITABLE_STATUSES
    )
    can_forward = (
        permissions.can_forward(user, consultation)
        and consultation.status not in FINISHED_STATUSES
    )
    page_forms = {
        "message_form": _message_form(user, consultation),
        "attachment_form": forms.AttachmentForm(),
        "protocol_form": forms.ProtocolForm(initial=_protocol_initial(detail)),
        "transition_form": forms.TransitionForm(),
        "forward_form": forms.ForwardForm(
            current_department_id=consultation.department_id
        ),
        "extension_form": forms.ExtensionForm(),
    }
    templates = []
    if permissions.can_post_message(user, consultation, Visibility.INTERNAL):
        templates = answer_templates.templates_for(consultation)
        chosen = request.GET.get("template")
        if chosen and "message_form" not in bound_forms:
            page_forms["message_form"] = _template_message_form(
                user, consultation, chosen, request.LANGUAGE_CODE
            )
    page_forms.update(bound_forms)
    _show_current_version(page_forms, consultation.version)
    action_rules = [lifecycle.ACTIONS[name] for name in detail["allowed_actions"]]
    can_extend = (
        extensions.can_extend(user, consultation)
        and consultation.status not in FINISHED_STATUSES
        and consultation.status not in lifecycle.SEALED_STATUSES
    )
    # Whether the template shows each form in the current status. A form sent
    # from a page loaded before a status change may be hidden now, so the
    # error summary shows its errors and typed text instead of linking to it.
    shown_forms = {
        "message_form": can_reply,
        "attachment_form": permissions.can_add_attachment(user, consultation),
        "protocol_form": can_edit,
        "transition_form": bool(action_rules),
        "forward_form": can_forward,
        "extension_form": can_extend,
    }
    error_anchor, hidden_error_form = _locate_error(bound_forms, shown_forms)

    context = {
        "consultation": consultation,
        "detail": detail,
        "service_name": forms.localized_name(
            consultation.service.name, consultation.service.name_en
        ),
        "department_name": forms.localized_name(
            consultation.department.name, consultation.department.name_en
        ),
        "overdue": is_overdue(consultation),
        "deadlines": deadline_rows(consultation, viewer=user),
        "deadline_zone": display_zone(user, consultation),
        "answer_templates": templates,
        "show_presence": user.role in STAFF_ROLES,
        "can_extend": can_extend,
        "chosen_template": request.GET.get("template", ""),
        "steps": _progress_steps(consultation.status, detail["transitions"]),
        "timeline": _timeline(detail),
        "can_reply": can_reply,
        "can_attach": shown_forms["attachment_form"],
        "can_edit_protocol": can_edit,
        "can_forward": can_forward,
        "sealed": consultation.status in lifecycle.SEALED_STATUSES,
        "sealed_note": SEALED_NOTES.get(consultation.status, ""),
        "answered_on_portal": consultation.channel == Channel.PORTAL,
        "is_draft_copy": consultation.status not in lifecycle.SEALED_STATUSES,
        # The predicate of documents.collected.check_full_allowed.
        "can_copy_full": permissions.can_view_personal_data(user, consultation),
        "action_rules": action_rules,
        "comment_required_for": [
            lifecycle.ACTION_LABELS[rule.name]
            for rule in action_rules
            if rule.comment_required
        ],
        "error_anchor": "acknowledge" if acknowledge_error else error_anchor,
        "hidden_error_form": hidden_error_form,
        "acknowledgement": acknowledgement.acknowledgement_of(consultation),
        "can_acknowledge": acknowledgement.can_acknowledge(user, consultation),
        "acknowledge_error": acknowledge_error,
        **data_context(request, consultation, bound_forms.get("data_form")),
        **data_request_views.data_request_context(
            request, consultation, {**bound_forms, "document_id": document_id}
        ),
        **page_forms,
    }
    return render(request, "web/consultation.html", context, status=status)


def _locate_error(bound_forms: dict, shown_forms: dict):
    """Return the anchor of the form with errors, or the errors of a hidden form.

    Forms missing from `shown_forms` count as shown.
    """
    name = next((name for name, form in bound_forms.items() if form.errors), None)
    if name is None:
        return None, None
    if shown_forms.get(name, True):
        return FORM_ANCHORS[name], None
    return None, _hidden_form_errors(bound_forms[name])


def _hidden_form_errors(form) -> dict:
    """Collect the errors and the typed text of a form the page no longer shows."""
    errors = [error for field_errors in form.errors.values() for error in field_errors]
    typed = []
    for field in form:
        value = form.data.get(field.name, "")
        if isinstance(field.field.widget, Textarea) and value.strip():
            typed.append({"label": field.label, "value": value})
    return {"errors": errors, "typed": typed}


def _back_to_page(consultation_id: int, anchor: str):
    url = reverse("web:consultation", kwargs={"consultation_id": consultation_id})
    return redirect(f"{url}#{anchor}")


def _submit(
    request,
    consultation_id,
    *,
    form_name,
    form,
    write,
    anchor,
    done,
    next_url_for=None,
    extra_forms=None,
):
    """Run `write` for a valid form and redirect, or show the page with the error.

    `next_url_for`, given the result of `write`, may return another URL to go to.
    `extra_forms` are passed on to the page shown after an error.

    The services commit in one transaction, so a failed write leaves nothing
    behind and the form is shown again with what the person typed.
    """
    extra_forms = extra_forms or {}
    if not form.is_valid():
        return _render_page(
            request, consultation_id, status=422, **{form_name: form}, **extra_forms
        )
    try:
        result = write(form.cleaned_data)
    except NotFound:
        return not_found(request)
    except ProtokolError as exc:
        log.info(
            "page_request_rejected",
            page=form_name,
            consultation_id=consultation_id,
            error=exc.code,
        )
        forms.add_field_errors(form, exc)
        return _render_page(
            request,
            consultation_id,
            status=exc.status,
            **{form_name: form},
            **extra_forms,
        )
    messages.success(request, done)
    next_url = next_url_for(result) if next_url_for else None
    if next_url:
        return redirect(next_url)
    return _back_to_page(consultation_id, anchor)


@login_required
def consultation_page(request, consultation_id: int):
    return _render_page(request, consultation_id)


@login_required
@require_POST
def post_message(request, consultation_id: int):
    try:
        consultation = services.get_visible(request.user, consultation_id)
    except NotFound:
        return not_found(request)
    form = _message_form(request.user, consultation, request.POST)

    def write(data):
        services.add_message(
            request.user,
            consultation_id,
            text=data["text"],
            visibility=data.get("visibility") or Visibility.PUBLIC,
            base_version=data.get("base_version"),
        )

    return _submit(
        request,
        consultation_id,
        form_name="message_form",
        form=form,
        write=write,
        anchor="dialogue",
        done=_("Сообщение добавлено."),
    )


@login_required
@require_POST
def post_attachment(request, consultation_id: int):
    form = forms.AttachmentForm(request.POST, request.FILES)

    def write(data):
        attachments.add_attachment(request.user, consultation_id, data.get("file"))

    return _submit(
        request,
        consultation_id,
        form_name="attachment_form",
        form=form,
        write=write,
        anchor="attachments",
        done=_("Файл загружен."),
    )


@login_required
@require_POST
def post_protocol(request, consultation_id: int):
    form = forms.ProtocolForm(request.POST)

    def write(data):
        protocols.save_protocol(request.user, consultation_id, **data)

    return _submit(
        request,
        consultation_id,
        form_name="protocol_form",
        form=form,
        write=write,
        anchor="protocol",
        done=_("Черновик протокола сохранён как новая версия."),
    )


@login_required
@require_POST
def post_transition(request, consultation_id: int):
    form = forms.TransitionForm(request.POST)

    def write(data):
        services.transition(
            request.user,
            consultation_id,
            action=data["action"],
            comment=data["comment"],
            base_version=data.get("base_version"),
        )

    return _submit(
        request,
        consultation_id,
        form_name="transition_form",
        form=form,
        write=write,
        anchor="timeline",
        done=_("Статус изменён."),
    )


@login_required
@require_POST
def post_forward(request, consultation_id: int):
    try:
        consultation = services.get_visible(request.user, consultation_id)
    except NotFound:
        return not_found(request)
    form = forms.ForwardForm(
        request.POST, current_department_id=consultation.department_id
    )

    def write(data):
        return services.forward(
            request.user,
            consultation_id,
            department_code=data["department"],
            reason=data["reason"],
            base_version=data.get("base_version"),
        )

    return _submit(
        request,
        consultation_id,
        form_name="forward_form",
        form=form,
        write=write,
        anchor="timeline",
        done=_("Консультация переадресована."),
        next_url_for=lambda moved: _home_unless_visible(request.user, moved),
    )


@login_required
@require_POST
def post_extension(request, consultation_id: int):
    try:
        consultation = services.get_visible(request.user, consultation_id)
        # Only supervisors see the form, so the page has no form to show
        # this error at, and the error page shows it instead.
        extensions.check_can_extend(request.user, consultation)
    except NotFound:
        return not_found(request)
    except PermissionDenied as error:
        log.info(
            "page_request_rejected",
            page="extension_form",
            consultation_id=consultation_id,
            error=error.code,
        )
        return render(request, "web/error.html", {"error": error}, status=403)
    form = forms.ExtensionForm(request.POST)

    def write(data):
        return extensions.extend_deadline(
            request.user, consultation_id, days=data["days"], reason=data["reason"]
        )

    return _submit(
        request,
        consultation_id,
        form_name="extension_form",
        form=form,
        write=write,
        anchor="deadlines",
        done=_("Срок ответа продлён."),
    )


def _home_unless_visible(user, consultation):
    """Return the home URL when a forward took the consultation out of sight."""
    if permissions.can_view_consultation(user, consultation):
        return None
    return reverse("web:home")


@login_required
@require_POST
def post_acknowledge(request, consultation_id: int):
    """Record the citizen's acknowledgement of the signed protocol."""
    try:
        acknowledgement.acknowledge(
            request.user, consultation_id, acknowledgement.session_of(request)
        )
    except NotFound:
        return not_found(request)
    except ProtokolError as exc:
        log.info(
            "page_request_rejected",
            page="acknowledge",
            consultation_id=consultation_id,
            error=exc.code,
        )
        return _render_page(
            request, consultation_id, status=exc.status, acknowledge_error=exc.message
        )
    messages.success(request, _("Ознакомление с протоколом записано."))
    return _back_to_page(consultation_id, "acknowledge")


@login_required
def download_attachment(request, consultation_id: int, attachment_id: int):
    try:
        attachment, handle = attachments.open_attachment(
            request.user, consultation_id, attachment_id
        )
    except NotFound:
        return not_found(request)
    except ProtokolError as exc:
        # A stored file that fails its integrity check is reported, not served.
        return render(request, "web/error.html", {"error": exc}, status=exc.status)
    return attachment_response(attachment, handle)


# Page messages for the copy service's errors about the link's query
# parameters, keyed by (status, field). The service's own messages name the
# parameters as the API does.
COPY_LINK_MESSAGES = {
    (422, "lang"): gettext_lazy(
        "Копия протокола есть только на русском и английском языках: выберите "
        "ссылку «на русском» или «на английском» на странице консультации."
    ),
    (422, "personal_data"): gettext_lazy(
        "Такого вида копии нет: выберите ссылку на копию на странице консультации."
    ),
    (403, "personal_data"): gettext_lazy(
        "Ваша роль не позволяет видеть персональные данные в копии полностью: "
        "выберите копию по первой ссылке на странице консультации."
    ),
}


@login_required
def protocol_pdf(request, consultation_id: int):
    """Download the protocol copy in the language asked for, Russian by default.

    A copy too large to render in the request becomes a copy job, and the
    browser goes to the job's page, which links the file once it is made.
    """
    language = request.GET.get("lang", "ru")
    personal_data = request.GET.get("personal_data", "masked")
    try:
        result = copy_jobs.request_copy(
            request.user,
            consultation_id,
            language=language,
            personal_data=personal_data,
        )
    except NotFound:
        return not_found(request)
    except ProtokolError as exc:
        log.info(
            "page_request_rejected",
            page="protocol_pdf",
            consultation_id=consultation_id,
            error=exc.code,
        )
        message = COPY_LINK_MESSAGES.get((exc.status, exc.field), exc.message)
        context = {"error": {"message": message}}
        return render(request, "web/error.html", context, status=exc.status)

    if result.job is not None:
        return redirect("web:copy_job", token=result.job.token)
    return pdf_response(result.file_name, result.content)
