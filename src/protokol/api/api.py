"""The HTTP API at /api/v1: thin handlers over the service layer."""

import json
import unicodedata
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import FileResponse, HttpResponse
from django.utils.translation import gettext, gettext_noop
from ninja import File, Form, NinjaAPI, Query, Schema, Status
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.files import UploadedFile

from protokol.accounts.models import Department
from protokol.accounts.services import issue_session_token, issue_token
from protokol.analytics.api import router as analytics_router
from protokol.api import schemas as s
from protokol.api.auth import API_AUTH, PageSession
from protokol.api.data_requests import router as data_requests_router
from protokol.api.personal import router as personal_router
from protokol.api.schemas import PathInt
from protokol.catalog.models import Service
from protokol.consultations import attachments, services
from protokol.consultations.models import Channel, Consultation
from protokol.disputes import api as disputes_api
from protokol.documents import jobs as copy_jobs
from protokol.errors import (
    Conflict,
    NotAuthenticated,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    ProtokolError,
    TooManyRequests,
    ValidationFailed,
)
from protokol.journal.api import router as journal_router
from protokol.journal.queries import consultation_journal
from protokol.notifications.api import router as notifications_router
from protokol.profiles.api import router as profile_router
from protokol.protocols import services as protocols
from protokol.retention.api import privacy_router
from protokol.retention.api import router as retention_router
from protokol.signing.api import router as signatures_router
from protokol.web.paging import capped_count, check_page
from protokol.workflow import api as workflow_api

api = NinjaAPI(
    title="Protokol API",
    version="1",
    description="Consultation protocols: requests, dialogue, review, copies, journal.",
    auth=API_AUTH,
    urls_namespace="api",
)

MAX_PAGE = 100


def _error(request, status: int, code: str, message: str, field=None, **extra):
    body = {"error": code, "message": message, "field": field, **extra}
    return api.create_response(request, body, status=status)


@api.exception_handler(ProtokolError)
def on_domain_error(request, exc: ProtokolError):
    return error_response(request, exc)


def error_response(request, exc: ProtokolError):
    """Return the API's JSON error response for a domain error."""
    response = api.create_response(request, exc.as_dict(), status=exc.status)
    if isinstance(exc, TooManyRequests):
        response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(NinjaValidationError)
def on_validation_error(request, exc: NinjaValidationError):
    first = exc.errors[0] if exc.errors else {}
    if _is_whole_body(first.get("loc", ())):
        if first.get("type") == "missing":
            message = gettext(
                "The request body is empty; send a JSON object with the fields of "
                "this request."
            )
        else:
            message = gettext(
                "The request body must be a JSON object with the fields of this "
                "request, not a list, string, number or null."
            )
        return _error(request, 422, "validation_failed", message, "body")

    location = [part for part in first.get("loc", ()) if part != "body"]
    field = _field_name(location)
    template = VALIDATION_MESSAGES.get(first.get("type", ""))
    if template and field:
        message = gettext(template) % {"field": field}
    else:
        message = first.get("msg", gettext("Invalid input."))
        if field:
            message = f"{field}: {message}"
    return _error(request, 422, "validation_failed", message, field)


def _is_whole_body(location) -> bool:
    """Return whether an error location names the JSON body itself, not a field.

    Every route takes its JSON body as one parameter, which django-ninja
    reports as ("body", parameter name), and a field in it as
    ("body", parameter name, field).
    """
    return len(location) == 2 and location[0] == "body"


def _field_name(location: list) -> str | None:
    """Return the field of a pydantic error location, such as "limit" or "ids[1]".

    An element of a list is named with its list, because the index alone
    does not tell the caller which field to fix.
    """
    if not location:
        return None
    if isinstance(location[-1], int) and len(location) > 1:
        return f"{location[-2]}[{location[-1]}]"
    return str(location[-1])


# Messages for pydantic's most common error types, so they follow the request's
# language; other types keep pydantic's English text.
VALIDATION_MESSAGES = {
    "missing": gettext_noop("%(field)s is required."),
    "extra_forbidden": gettext_noop("%(field)s is not a known field; remove it."),
    "string_type": gettext_noop("%(field)s must be a string."),
    "int_type": gettext_noop("%(field)s must be an integer."),
    "int_parsing": gettext_noop("%(field)s must be an integer."),
    "bool_type": gettext_noop("%(field)s must be true or false."),
    "bool_parsing": gettext_noop("%(field)s must be true or false."),
    "list_type": gettext_noop("%(field)s must be a list."),
    "dict_type": gettext_noop("%(field)s must be an object."),
}


@api.exception_handler(RequestDataTooBig)
def on_body_too_large(request, exc):
    size = request.META.get("CONTENT_LENGTH") or "?"
    message = gettext(
        "The request body is %(size)s bytes, more than the %(limit)d bytes "
        "accepted; shorten the text fields."
    ) % {"size": size, "limit": settings.DATA_UPLOAD_MAX_MEMORY_SIZE}
    return _error(request, 413, PayloadTooLarge.code, message, "body")


@api.exception_handler(AuthenticationError)
def on_auth_error(request, exc):
    return _error(
        request,
        401,
        "not_authenticated",
        gettext(
            "Authentication required: send 'Authorization: Bearer <token>' from "
            "POST /api/v1/auth/token."
        ),
    )


# Error codes for the statuses Ninja raises itself, such as 403 on a failed CSRF check.
HTTP_ERROR_CODES = {
    error.status: error.code
    for error in (NotAuthenticated, PermissionDenied, NotFound, Conflict)
}


@api.exception_handler(HttpError)
def on_http_error(request, exc: HttpError):
    # django-ninja raises 400 from the error of parsing the JSON body.
    if isinstance(exc.__cause__, ValueError):
        return _error(
            request, 400, "bad_request", _parse_message(exc.__cause__), "body"
        )
    code = HTTP_ERROR_CODES.get(exc.status_code, "bad_request")
    return _error(request, exc.status_code, code, str(exc))


def _parse_message(error: ValueError) -> str:
    """Return the message for a JSON body that failed to parse with `error`."""
    if isinstance(error, json.JSONDecodeError):
        return gettext(
            "The request body is not valid JSON (line %(line)d, column %(column)d); "
            "send a JSON object with the fields of this request."
        ) % {"line": error.lineno, "column": error.colno}
    return gettext(
        "The request body is not JSON in UTF-8; send a JSON object with the "
        "fields of this request."
    )


def _consultation_out(c: Consultation) -> dict:
    return {
        "id": c.pk,
        "number": c.number,
        "status": c.status,
        "version": c.version,
        "service": c.service.code,
        "department": c.department.code,
        "channel": c.channel,
        "subject": c.subject,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "closed_at": c.closed_at,
        "deadline": c.deadline,
    }


@api.post(
    "/auth/token",
    auth=None,
    response={200: s.TokenOut, 401: s.ErrorOut, 429: s.ErrorOut},
)
def create_token(request, body: s.TokenIn):
    """Exchange a username and password for a bearer token.

    Failed attempts count towards the same lockout as the sign-in page, and a
    locked-out user name and address get 429 with Retry-After in seconds.
    """
    return {"token": issue_token(request, body.username, body.password)}


@api.post(
    "/auth/session-token",
    auth=PageSession(),
    response={200: s.TokenOut, 401: s.ErrorOut},
)
def create_session_token(request):
    """Create a bearer token from the page session (and its CSRF token).

    Outside demo mode this is how staff get a token: the session must have
    confirmed a TOTP code, and the token records that it did.
    """
    is_verified = getattr(request.user, "is_verified", None)
    verified = bool(is_verified and is_verified())
    return {"token": issue_session_token(request.user, verified=verified)}


@api.get("/services", response=list[s.ServiceOut])
def list_services(request):
    """List the active services (request types) a citizen can choose."""
    return [
        {
            "code": service.code,
            "name": service.name,
            "name_en": service.name_en,
            "department": service.department.code,
            "required_fields": service.required_fields,
            "data_fields": service.data_fields,
            "deadline_days": service.deadline_days,
        }
        for service in Service.objects.filter(is_active=True).select_related(
            "department"
        )
    ]


@api.get("/departments", response=list[s.DepartmentOut])
def list_departments(request):
    """List the departments, for forwarding."""
    return list(Department.objects.values("code", "name", "name_en"))


class ListFilters(Schema):
    status: str | None = None
    service: str | None = None
    department: str | None = None
    q: str | None = None
    limit: int = 20
    offset: int = 0


@api.get("/consultations", response=s.ConsultationList)
def list_consultations(request, filters: Query[ListFilters]):
    """List the consultations the caller may see, newest first."""
    check_page(filters.limit, filters.offset, MAX_PAGE)

    queryset = services.list_consultations(
        request.user,
        status=filters.status,
        service=filters.service,
        department=filters.department,
        q=filters.q,
    )
    count, more = capped_count(queryset)
    page = list(queryset[filters.offset : filters.offset + filters.limit])
    services.journal_list_read(
        request.user, count=len(page), filters=filters.dict(exclude={"limit"})
    )
    return {"items": [_consultation_out(c) for c in page], "count": count, "more": more}


@api.post("/consultations", response={201: s.ConsultationOut})
def create_consultation(request, body: s.ConsultationIn):
    """Open a consultation in the caller's name."""
    consultation = services.create_consultation(
        request.user,
        service_code=body.service,
        subject=body.subject,
        description=body.description,
        channel=Channel.API,
    )
    return Status(201, _consultation_out(consultation))


@api.get("/consultations/{consultation_id}")
def get_consultation(request, consultation_id: PathInt):
    """Return a consultation with its dialogue, files, history and protocol."""
    from protokol.consultations.presenters import consultation_detail

    consultation = services.read_consultation(request.user, consultation_id, via="api")
    detail = consultation_detail(consultation, request.user)
    for item in detail["attachments"]:
        item["download_url"] = _download_url(consultation.pk, item["id"])
    return detail


def _download_url(consultation_id: int, attachment_id: int) -> str:
    return f"/api/v1/consultations/{consultation_id}/attachments/{attachment_id}"


@api.post("/consultations/{consultation_id}/messages", response={201: s.MessageOut})
def post_message(request, consultation_id: PathInt, body: s.MessageIn):
    """Add a message to the dialogue: public, or internal for staff only."""
    message = services.add_message(
        request.user,
        consultation_id,
        text=body.text,
        visibility=body.visibility,
        base_version=body.base_version,
    )
    return Status(201, message)


@api.post(
    "/consultations/{consultation_id}/attachments", response={201: s.AttachmentOut}
)
def upload_attachment(
    request,
    consultation_id: PathInt,
    file: File[UploadedFile] = None,
    document: Form[int | None] = None,
):
    """Attach a file (multipart field `file`).

    With the multipart field `document`, the id of a requested document, the
    file answers it and the document becomes received.
    """
    limit = request.META.get("CONTENT_LENGTH") or "0"
    if limit.isdigit() and int(limit) > _upload_limit() + 64 * 1024:
        raise PayloadTooLarge(
            gettext("Request body is %(size)s bytes; files may be at most %(limit)d.")
            % {"size": limit, "limit": _upload_limit()},
            field="file",
        )
    _check_upload_fields(request)
    attachment = attachments.add_attachment(
        request.user, consultation_id, file, document_id=document
    )
    return Status(
        201,
        {
            "id": attachment.pk,
            "name": attachment.original_name,
            "content_type": attachment.content_type,
            "size": attachment.size,
            "sha256": attachment.sha256,
            "created_at": attachment.created_at,
            "download_url": _download_url(consultation_id, attachment.pk),
        },
    )


# Multipart fields of an upload. A browser form posted with the page session
# also sends its CSRF token.
UPLOAD_FIELDS = frozenset({"file", "document", "csrfmiddlewaretoken"})


def _check_upload_fields(request) -> None:
    """Raise 422 for an unknown multipart field or more than one file.

    django-ninja keeps the last of several files named `file` and ignores
    unknown fields, so without this check a file would be dropped silently.
    A request without a file is left to the service, which names `file`.
    """
    count = len(request.FILES.getlist("file"))
    if count == 0:
        return
    unknown = sorted((set(request.POST) | set(request.FILES)) - UPLOAD_FIELDS)
    if unknown:
        raise ValidationFailed(
            gettext(VALIDATION_MESSAGES["extra_forbidden"]) % {"field": unknown[0]},
            field=unknown[0],
        )
    if count > 1:
        raise ValidationFailed(
            gettext("file is sent %(count)d times; send one file per request.")
            % {"count": count},
            field="file",
        )


def _upload_limit() -> int:
    return settings.CONFIG.max_upload_bytes


@api.get("/consultations/{consultation_id}/attachments/{attachment_id}")
def download_attachment(request, consultation_id: PathInt, attachment_id: PathInt):
    """Download an attachment; always as a file, never rendered inline."""
    attachment, handle = attachments.open_attachment(
        request.user, consultation_id, attachment_id
    )
    return attachment_response(attachment, handle)


def attachment_response(attachment, handle) -> FileResponse:
    """Build the download response shared by the API and the pages."""
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=attachment.original_name,
        content_type=attachment.content_type,
    )
    response["Content-Disposition"] = content_disposition(attachment.original_name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def content_disposition(name: str) -> str:
    """Return an RFC 6266 attachment header with an ASCII fallback and filename*."""
    fallback = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    fallback = "".join(c for c in fallback if c.isprintable() and c not in '"\\')
    stem, dot, extension = name.rpartition(".")
    if not fallback.strip(" ."):
        fallback = f"file.{extension}" if dot and extension.isascii() else "file"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"


@api.get("/consultations/{consultation_id}/protocol", response=s.ProtocolOut | None)
def get_protocol(request, consultation_id: PathInt):
    """Return the latest protocol version, or null when none is saved yet."""
    consultation = services.read_consultation(request.user, consultation_id, via="api")
    return protocols.latest_version(consultation)


@api.put("/consultations/{consultation_id}/protocol", response=s.ProtocolOut)
def put_protocol(request, consultation_id: PathInt, body: s.ProtocolIn):
    """Save the protocol as a new version."""
    return protocols.save_protocol(request.user, consultation_id, **body.dict())


@api.post("/consultations/{consultation_id}/transitions", response=s.ConsultationOut)
def post_transition(request, consultation_id: PathInt, body: s.TransitionIn):
    """Apply a lifecycle action such as take, submit, approve, sign or archive."""
    consultation = services.transition(
        request.user,
        consultation_id,
        action=body.action,
        comment=body.comment,
        base_version=body.base_version,
    )
    return _consultation_out(consultation)


@api.post("/consultations/{consultation_id}/forward", response=s.ConsultationOut)
def post_forward(request, consultation_id: PathInt, body: s.ForwardIn):
    """Forward the consultation to another department, with a reason."""
    consultation = services.forward(
        request.user,
        consultation_id,
        department_code=body.department,
        reason=body.reason,
        base_version=body.base_version,
    )
    return _consultation_out(consultation)


@api.get("/consultations/{consultation_id}/protocol.pdf")
def get_protocol_pdf(
    request, consultation_id: PathInt, lang: str = "ru", personal_data: str = "masked"
):
    """Download the protocol copy as PDF (Russian, or English with lang=en).

    personal_data=full prints the collected data unmasked, for the citizen
    and for staff who may read them; others get 403. A copy whose messages
    and attachments exceed PROTOKOL_COPY_BACKGROUND_BYTES gets 202 and the
    URL of a job that gives the file once the worker has made it.
    """
    result = copy_jobs.request_copy(
        request.user, consultation_id, language=lang, personal_data=personal_data
    )
    if result.job is not None:
        return _copy_job_response(request, result.job, status=202)
    return pdf_response(result.file_name, result.content)


@api.get("/copy-jobs/{token}")
def get_copy_job(request, token: str):
    """Return the finished copy of a background job, or 202 with its status.

    Only the user who requested the copy sees the job. A failed job returns
    the error that the copy request would have returned.
    """
    job, content = copy_jobs.get_job(request.user, token)
    if content is not None:
        return pdf_response(job.file_name, content)
    if job.status == "failed":
        error = {key: value for key, value in job.error.items() if key != "status"}
        return api.create_response(request, error, status=job.error["status"])
    return _copy_job_response(request, job, status=202)


def _copy_job_response(request, job, *, status: int):
    url = f"/api/v1/copy-jobs/{job.token}"
    body = {"job": job.token, "status": job.status, "url": url}
    response = api.create_response(request, body, status=status)
    response["Location"] = url
    return response


def pdf_response(file_name: str, content: bytes) -> HttpResponse:
    """Return a PDF as a download named `file_name`."""
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{file_name}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@api.get("/consultations/{consultation_id}/journal", response=list[s.JournalEntryOut])
def get_journal(request, consultation_id: PathInt):
    """Return the journal entries of a consultation, oldest first."""
    return consultation_journal(request.user, consultation_id)


api.add_router("/journal", journal_router)
api.add_router("/consultations", signatures_router)
api.add_router("/consultations", workflow_api.consultation_router)
api.add_router("/templates", workflow_api.templates_router)
api.add_router("/services", workflow_api.services_router)
api.add_router("", personal_router)
api.add_router("", data_requests_router)
api.add_router("/analytics", analytics_router)
api.add_router("/notifications", notifications_router)
api.add_router("/consultations", disputes_api.consultation_router)
api.add_router("/disputes", disputes_api.router)
api.add_router("/profile", profile_router)
api.add_router("/retention", retention_router)
api.add_router("/privacy", privacy_router)
