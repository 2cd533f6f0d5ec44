"""The data request section of the consultation page and the forms posted from it.

Operators ask for fields and documents and review the checklist; the citizen
answers in a form with exactly the requested fields and a file input per
missing document. Everything works without JavaScript.
"""

import structlog
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from protokol.accounts.models import Role
from protokol.consultations import data_requests, lifecycle, permissions, prefill
from protokol.consultations.models import Status
from protokol.errors import NotFound, ProtokolError
from protokol.web import data_request_forms as drf
from protokol.web import forms
from protokol.web.personal_views import identifiers_page
from protokol.web.views import not_found

log = structlog.get_logger(__name__)

ANCHOR = "data-request"
# Page forms of this section and the anchor their errors scroll to.
FORM_ANCHORS = {
    "data_request_form": ANCHOR,
    "data_answer_form": "data-answer",
    "document_review_form": "checklist",
    "document_upload_form": "checklist",
}


def _can_request(user, consultation) -> bool:
    rule = lifecycle.ACTIONS["request_data"]
    return consultation.status in rule.sources and permissions.can_take_action(
        user, consultation, "request_data"
    )


def _answer_items(consultation, request_detail: dict) -> list[dict]:
    """Return the requested fields with their definitions and prefilled values."""
    service = consultation.service
    return [
        {**item, "definition": service.field(item["name"])}
        for item in request_detail["fields"]
    ]


def data_request_context(request, consultation, bound_forms: dict) -> dict:
    """Return the data request section's context for the viewer.

    `bound_forms` are the forms of a post that failed; the one for a single
    document also names it (`document_id`).
    """
    from protokol.web.consultation_views import _show_current_version

    user = request.user
    can_request = _can_request(user, consultation)
    detail = data_requests.request_detail(user, consultation)
    if not (can_request or detail["request"] or detail["checklist"]):
        return {"dr_visible": False}

    section_forms = {}
    if can_request:
        section_forms["data_request_form"] = bound_forms.get(
            "data_request_form"
        ) or drf.DataRequestForm(service=consultation.service)

    open_request = detail["request"] and detail["request"]["answered_at"] is None
    is_citizen = user.pk == consultation.citizen_id
    pending = data_requests.pending_documents(consultation)
    answering = (
        is_citizen and open_request and consultation.status == Status.DATA_REQUESTED
    )
    if answering:
        open_pending = [
            d for d in pending if d.data_request_id == detail["request"]["id"]
        ]
        section_forms["data_answer_form"] = bound_forms.get(
            "data_answer_form"
        ) or drf.DataAnswerForm(
            request_detail={"fields": _answer_items(consultation, detail["request"])},
            pending=open_pending,
        )

    can_review = permissions.can_review_documents(user, consultation) and (
        consultation.status not in lifecycle.SEALED_STATUSES
    )
    can_upload = (
        permissions.can_add_attachment(user, consultation)
        and consultation.status != Status.WITHDRAWN
    )
    bound_id = bound_forms.get("document_id")
    rows = []
    for item in detail["checklist"]:
        row = {"item": item, "review_form": None, "upload_form": None}
        bound_here = item["id"] == bound_id
        if can_review and item["attachment_id"]:
            row["review_form"] = (
                bound_forms.get("document_review_form") if bound_here else None
            ) or drf.DocumentReviewForm(document_id=item["id"])
        # Outside the answer form a missing document gets its own upload form.
        in_answer = answering and item["data_request_id"] == detail["request"]["id"]
        if can_upload and item["status"] in data_requests.PENDING and not in_answer:
            row["upload_form"] = (
                bound_forms.get("document_upload_form") if bound_here else None
            ) or drf.DocumentUploadForm(document_id=item["id"])
        rows.append(row)

    versioned = dict(section_forms)
    versioned.update(
        {
            f"review_{i}": row["review_form"]
            for i, row in enumerate(rows)
            if row["review_form"]
        }
    )
    _show_current_version(versioned, consultation.version)
    return {
        "dr_visible": True,
        "dr_request": detail["request"],
        "dr_checklist": rows,
        "dr_prefill_consent": detail["prefill_consent"],
        "dr_is_citizen": is_citizen and user.role == Role.CITIZEN,
        **section_forms,
    }


def _visible_consultation(request, consultation_id):
    from protokol.consultations import services

    return services.get_visible(request.user, consultation_id)


@login_required
@require_POST
def post_data_request(request, consultation_id: int):
    """Ask the citizen for the chosen fields and documents."""
    from protokol.web.consultation_views import _submit

    try:
        consultation = _visible_consultation(request, consultation_id)
    except NotFound:
        return not_found(request)
    form = drf.DataRequestForm(request.POST, service=consultation.service)

    def write(data):
        data_requests.request_data(
            request.user,
            consultation_id,
            fields=data["fields"],
            documents=form.document_names(),
            comment=data["comment"],
            base_version=data.get("base_version"),
        )

    return _submit(
        request,
        consultation_id,
        form_name="data_request_form",
        form=form,
        write=write,
        anchor=ANCHOR,
        done=_("Запрос данных отправлен гражданину."),
    )


@login_required
@require_POST
def post_data_answer(request, consultation_id: int):
    """Give the requested values and files; the consultation goes back to drafting."""
    from protokol.web.consultation_views import _submit

    try:
        consultation = _visible_consultation(request, consultation_id)
    except NotFound:
        return not_found(request)
    # The posted form needs the requested fields only, not their prefilled
    # values, so nothing is decrypted here.
    open_request = data_requests.open_request(consultation)
    requested = open_request.fields if open_request else []
    items = [
        {"name": d.name, "required": d.required, "value": None, "definition": d}
        for d in consultation.service.value_fields
        if d.name in requested
    ]
    form = drf.DataAnswerForm(
        request.POST,
        request.FILES,
        request_detail={"fields": items},
        pending=[
            d
            for d in data_requests.pending_documents(consultation)
            if open_request and d.data_request_id == open_request.pk
        ],
    )

    def write(data):
        data_requests.answer(
            request.user,
            consultation_id,
            values=form.values(),
            files=form.files_by_document(),
            comment=data.get("comment", ""),
            base_version=data.get("base_version"),
        )

    return _submit(
        request,
        consultation_id,
        form_name="data_answer_form",
        form=form,
        write=write,
        anchor=ANCHOR,
        done=_("Данные отправлены."),
    )


@login_required
@require_POST
def post_document_review(request, consultation_id: int, document_id: int):
    """Accept or reject one requested document."""
    from protokol.web.consultation_views import _submit

    form = drf.DocumentReviewForm(request.POST, document_id=document_id)

    def write(data):
        data_requests.review_document(
            request.user,
            consultation_id,
            document_id,
            status=data["status"],
            reason=data["reason"],
            base_version=data.get("base_version"),
        )

    return _submit(
        request,
        consultation_id,
        form_name="document_review_form",
        form=form,
        write=write,
        anchor="checklist",
        done=_("Статус документа изменён."),
        extra_forms={"document_id": document_id},
    )


@login_required
@require_POST
def post_document_upload(request, consultation_id: int, document_id: int):
    """Upload a file against a requested document, which becomes received."""
    from protokol.consultations import attachments
    from protokol.web.consultation_views import _submit

    form = drf.DocumentUploadForm(request.POST, request.FILES, document_id=document_id)

    def write(data):
        attachments.add_attachment(
            request.user, consultation_id, data.get("file"), document_id=document_id
        )

    return _submit(
        request,
        consultation_id,
        form_name="document_upload_form",
        form=form,
        write=write,
        anchor="checklist",
        done=_("Файл загружен."),
        extra_forms={"document_id": document_id},
    )


@login_required
@require_POST
def post_prefill_consent(request):
    """Switch prefilling of data request forms on or off from the identifiers page."""
    if request.user.role != Role.CITIZEN:
        return redirect("web:home")
    form = drf.PrefillConsentForm(request.POST)
    if not form.is_valid():
        log.info("page_request_rejected", page="prefill_consent", error="invalid")
        return identifiers_page(request, consent_form=form, status=422)
    try:
        enabled = prefill.set_consent(request.user, form.cleaned_data["enabled"])
    except ProtokolError as exc:
        log.info("page_request_rejected", page="prefill_consent", error=exc.code)
        forms.add_service_error(form, exc)
        messages.error(request, exc.message)
        return redirect("web:my_identifiers")
    messages.success(
        request,
        _("Подстановка прежних данных включена.")
        if enabled
        else _("Подстановка прежних данных выключена."),
    )
    return redirect("web:my_identifiers")
