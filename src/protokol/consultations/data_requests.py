"""Data requests: the fields and documents an operator asks a citizen for.

`request_data` and `provide_data` are lifecycle actions (lifecycle.py); they
run through `services.transition`, which calls `on_transition` under the
consultation's row lock. Requested documents form the consultation's
checklist: requested, received (a file was uploaded against it), accepted,
or rejected with a reason. Every write is journaled and raises the
consultation's version.
"""

from dataclasses import dataclass

import structlog
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, pgettext

from protokol.catalog.fields import MAX_FIELDS, value_kinds
from protokol.consultations import attachments, encryption, permissions
from protokol.consultations.models import (
    DataRequest,
    DocumentStatus,
    RequestedDocument,
    Status,
)
from protokol.consultations.services import (
    _ensure_not_sealed,
    bump_version,
    check_version,
    get_visible,
    journal_denials,
    transition,
)
from protokol.errors import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    UnsupportedMediaType,
    ValidationFailed,
)
from protokol.journal import services as journal
from protokol.journal.models import JournalAction
from protokol.personal.validators import clean_values
from protokol.validation import clean_text

log = structlog.get_logger(__name__)

ACTIONS = frozenset({"request_data", "provide_data"})
MAX_DOCUMENTS = 20
MAX_DOCUMENT_NAME = 300
# Documents still waiting for a file from the citizen.
PENDING = frozenset({DocumentStatus.REQUESTED, DocumentStatus.REJECTED})
REVIEW_STATUSES = (DocumentStatus.ACCEPTED, DocumentStatus.REJECTED)
# NOTE: checklist changes are journaled as personal_data:update entries with
# object_type "requested_document", because the journal has no action for
# them. Give them one when the journal's action list next changes.
DOCUMENT_JOURNAL_ACTION = JournalAction.PERSONAL_DATA_UPDATE


@dataclass(frozen=True)
class Answer:
    """A citizen's answer: values of the requested fields and prepared files."""

    values: dict
    files: dict  # requested document id -> attachments.PreparedFile
    # Errors found before the transaction, as {field, message}: files that
    # failed their checks and an invalid comment.
    errors: tuple = ()


def request_data(
    actor,
    consultation_id,
    *,
    fields=(),
    documents=(),
    comment: str,
    base_version: int | None = None,
):
    """Ask the citizen for some of the service's fields and for named documents.

    `fields` are names from the service's definition; file fields among them
    go on the checklist under their label, next to the named `documents`.
    """
    return transition(
        actor,
        consultation_id,
        action="request_data",
        comment=comment,
        base_version=base_version,
        data={"fields": fields, "documents": documents},
    )


def answer(
    actor,
    consultation_id,
    *,
    values=None,
    files=None,
    comment: str = "",
    base_version: int | None = None,
):
    """Give the requested values and files, moving the consultation back to drafting.

    `files` maps requested document ids to uploads. Every file is checked
    and encrypted before the transaction, so a bad one stores nothing. An
    invalid answer raises one ValidationFailed (422) whose `errors` lists
    every invalid value, file and the comment, so a form can show them
    together. A file that is too large or of a type not allowed is among
    them, with no 413 or 415 of its own.
    """
    errors = []
    prepared = {}
    for key, upload in (files or {}).items():
        try:
            prepared[_document_id(key)] = attachments.prepare_upload(
                upload, field=f"documents.{key}"
            )
        except (ValidationFailed, PayloadTooLarge, UnsupportedMediaType) as error:
            errors.append({"field": error.field, "message": error.message})

    # transition() would reject an invalid comment before the values are
    # checked, so the comment is checked here with the other fields.
    comment = (comment or "").strip()
    if comment:
        try:
            comment = clean_text(comment, field="comment")
        except ValidationFailed as error:
            errors.append({"field": error.field, "message": error.message})
            comment = ""
    return transition(
        actor,
        consultation_id,
        action="provide_data",
        comment=comment,
        base_version=base_version,
        data=Answer(values=values or {}, files=prepared, errors=tuple(errors)),
    )


def _document_id(key) -> int:
    try:
        return int(key)
    except (TypeError, ValueError):
        raise ValidationFailed(
            gettext("documents.%(key)s: a document is named by its numeric id.")
            % {"key": key},
            field=f"documents.{key}",
        ) from None


def on_transition(actor, consultation, action: str, comment: str, data) -> dict:
    """Record the request or the answer of a data action; return its details.

    Runs inside `services.transition`, under the row lock, before the
    transition row is written, so any error rolls the whole action back.
    """
    if action == "request_data":
        return _create_request(actor, consultation, comment, data or {})
    return _apply_answer(actor, consultation, data or Answer(values={}, files={}))


def _create_request(actor, consultation, comment: str, data: dict) -> dict:
    service = consultation.service
    fields, names = data.get("fields") or [], data.get("documents") or []
    errors = []
    if not isinstance(fields, list | tuple) or not all(
        isinstance(name, str) for name in fields
    ):
        raise ValidationFailed(
            gettext("fields must be a list of field names."), field="fields"
        )
    # A service has at most MAX_FIELDS fields, and each unknown name below
    # gets an error of its own, so a longer list is rejected as a whole.
    if len(fields) > MAX_FIELDS:
        raise ValidationFailed(
            gettext("fields lists %(count)d names; a service has at most %(max)d.")
            % {"count": len(fields), "max": MAX_FIELDS},
            field="fields",
        )
    if not isinstance(names, list | tuple) or len(names) > MAX_DOCUMENTS:
        raise ValidationFailed(
            gettext("documents must be a list of at most %(max)d names.")
            % {"max": MAX_DOCUMENTS},
            field="documents",
        )

    defined = {d.name: d for d in service.fields}
    for name in fields:
        if name not in defined:
            errors.append(
                {
                    "field": "fields",
                    "message": gettext(
                        "'%(name)s' is not a field of service %(service)s; "
                        "allowed: %(allowed)s."
                    )
                    % {
                        "name": name,
                        "service": service.code,
                        "allowed": ", ".join(defined) or "-",
                    },
                }
            )
    picked = [defined[name] for name in dict.fromkeys(fields) if name in defined]
    document_names = _document_names(names, picked, errors)
    _raise_errors(errors)

    now = timezone.now()
    request = DataRequest.objects.create(
        consultation=consultation,
        requested_by=actor,
        fields=[d.name for d in picked if not d.is_file],
        comment=comment,
        created_at=now,
    )
    checklist = [(d.localized_label(), d.name) for d in picked if d.is_file]
    checklist += [(name, "") for name in document_names]
    RequestedDocument.objects.bulk_create(
        RequestedDocument(
            data_request=request,
            consultation=consultation,
            name=name,
            field=field_name,
            updated_at=now,
            updated_by=actor,
        )
        for name, field_name in checklist
    )
    log.info(
        "data_requested",
        consultation_id=consultation.pk,
        data_request_id=request.pk,
        fields=request.fields,
        documents=len(checklist),
    )
    return {
        "data_request": request.pk,
        "fields": request.fields,
        "documents": [name for name, _ in checklist],
    }


def _document_names(names, picked, errors: list) -> list[str]:
    """Return the cleaned document names, adding an error for each invalid one.

    A name that repeats an earlier one, or the label of a picked file field,
    would make a second checklist entry for the same document. Names are
    compared ignoring case and repeated spaces.
    """
    seen = {
        _name_key(label)
        for definition in picked
        if definition.is_file
        for label in (
            definition.label,
            definition.label_en,
            definition.localized_label(),
        )
        if label
    }
    document_names = []
    for index, name in enumerate(names):
        field = f"documents[{index}]"
        try:
            name = clean_text(name, field=field, max_length=MAX_DOCUMENT_NAME)
        except ValidationFailed as error:
            errors.append({"field": error.field, "message": error.message})
            continue
        if _name_key(name) in seen:
            errors.append(
                {
                    "field": field,
                    "message": gettext(
                        "%(field)s: document '%(name)s' is already in the request; "
                        "name each document once."
                    )
                    % {"field": field, "name": name},
                }
            )
            continue
        seen.add(_name_key(name))
        document_names.append(name)
    return document_names


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def open_request(consultation) -> DataRequest | None:
    """Return the consultation's unanswered data request, if any."""
    return (
        DataRequest.objects.filter(consultation=consultation, answered_at=None)
        .order_by("-created_at", "-id")
        .first()
    )


def latest_request(consultation) -> DataRequest | None:
    """Return the consultation's most recent data request, answered or not."""
    return (
        DataRequest.objects.filter(consultation=consultation)
        .order_by("-created_at", "-id")
        .first()
    )


def _apply_answer(actor, consultation, data: Answer) -> dict:
    from protokol.consultations import personal_data

    request = open_request(consultation)
    if request is None:
        # A consultation put in data_requested before requests were
        # recorded (or imported) is answered without values, as before.
        files_sent = any(e["field"] != "comment" for e in data.errors)
        if data.values or data.files or files_sent:
            raise Conflict(
                gettext("There is no open data request to answer."), field="values"
            )
        _raise_errors(list(data.errors))
        return {}

    service = consultation.service
    requested = [d for d in service.value_fields if d.name in request.fields]
    errors = []
    cleaned = {}
    try:
        cleaned = clean_values(
            data.values,
            allowed=[d.name for d in requested],
            kinds=value_kinds(requested),
            required=[d.name for d in requested if d.required],
        )
    except ValidationFailed as error:
        errors += error.extra.get("errors") or [
            {"field": error.field, "message": error.message}
        ]

    documents = {d.pk: d for d in request.documents.all()}
    for document_id in data.files:
        if document_id not in documents:
            errors.append(
                {
                    "field": f"documents.{document_id}",
                    "message": gettext(
                        "documents.%(id)s is not a document of this request."
                    )
                    % {"id": document_id},
                }
            )
    # A file that failed its checks has its own error, not "missing".
    rejected_files = {e["field"] for e in data.errors}
    for document in documents.values():
        if (
            document.status in PENDING
            and document.pk not in data.files
            and f"documents.{document.pk}" not in rejected_files
        ):
            errors.append(
                {
                    "field": f"documents.{document.pk}",
                    "message": gettext(
                        "documents.%(id)s (%(name)s) is required: upload the file."
                    )
                    % {"id": document.pk, "name": document_name(document, service)},
                }
            )
    _raise_errors([*errors, *data.errors])

    if cleaned:
        personal_data.store_values(
            actor, consultation, cleaned, encryption.load_master_key(), merge=True
        )
    received = []
    for document_id, prepared in data.files.items():
        attachment = attachments.store_prepared(actor, consultation, prepared)
        mark_received(actor, consultation, documents[document_id], attachment)
        received.append(document_id)
    request.answered_at = timezone.now()
    request.answered_by = actor
    request.save(update_fields=["answered_at", "answered_by"])
    return {
        "data_request": request.pk,
        "fields": sorted(cleaned),
        "documents": received,
    }


def _raise_errors(errors: list[dict]) -> None:
    """Raise one ValidationFailed naming the first field, with all `errors`."""
    if errors:
        raise ValidationFailed(
            errors[0]["message"], field=errors[0]["field"], errors=errors
        )


def document_for_upload(actor, consultation, document_id) -> RequestedDocument:
    """Return the requested document a new file answers; 404 or 409 if it cannot."""
    # The same rule as review_document: a withdrawn consultation's checklist
    # is final, although a plain attachment may still be added.
    if consultation.status == Status.WITHDRAWN:
        raise Conflict(
            gettext("The consultation is withdrawn; its documents stay as they are."),
            field="status",
        )
    document = _document(consultation, document_id, field="document")
    if document.status == DocumentStatus.ACCEPTED:
        raise Conflict(
            gettext("Document '%(name)s' is accepted already; it needs no new file.")
            % {"name": document_name(document, consultation.service)},
            field="document",
        )
    return document


def _document(consultation, document_id, *, field: str) -> RequestedDocument:
    """Return a requested document of the consultation; 404 naming `field`."""
    try:
        return RequestedDocument.objects.select_for_update().get(
            consultation=consultation, pk=int(document_id)
        )
    except (RequestedDocument.DoesNotExist, TypeError, ValueError):
        raise NotFound(
            gettext("Requested document not found in this consultation."),
            field=field,
        ) from None


def mark_received(actor, consultation, document, attachment) -> None:
    """Mark a requested document received with `attachment`, inside the transaction."""
    before = document.status
    document.status = DocumentStatus.RECEIVED
    document.attachment = attachment
    document.reason = ""
    document.updated_at = timezone.now()
    document.updated_by = actor
    document.save(
        update_fields=["status", "attachment", "reason", "updated_at", "updated_by"]
    )
    _journal_document(actor, consultation, document, before)


def _journal_document(actor, consultation, document, before: str) -> None:
    journal.record(
        DOCUMENT_JOURNAL_ACTION,
        actor=actor,
        object_type="requested_document",
        object_id=document.pk,
        object_label=consultation.number,
        consultation_id=consultation.pk,
        before={"status": before},
        after={
            "status": document.status,
            "reason": document.reason,
            "attachment_id": document.attachment_id,
        },
    )


@journal_denials
def review_document(
    actor,
    consultation_id,
    document_id,
    *,
    status: str,
    reason: str = "",
    base_version: int | None = None,
) -> RequestedDocument:
    """Accept or reject a received document; a rejection needs a reason."""
    if status not in REVIEW_STATUSES:
        raise ValidationFailed(
            gettext("status must be 'accepted' or 'rejected'."), field="status"
        )
    reason = (reason or "").strip()
    # clean_text rejects an empty text, so a rejection without a reason fails.
    if status == DocumentStatus.REJECTED or reason:
        reason = clean_text(reason, field="reason")

    # A denial raised inside the transaction would roll back its journal
    # entry, so visibility is checked once before the transaction starts.
    get_visible(actor, consultation_id)
    with transaction.atomic():
        consultation = get_visible(actor, consultation_id, for_update=True)
        check_version(consultation, base_version)
        _ensure_not_sealed(consultation, pgettext("sealed", "documents"))
        if not permissions.can_review_documents(actor, consultation):
            raise PermissionDenied(
                gettext("Your role may not review the documents of this consultation."),
                field="status",
            )
        if consultation.status == Status.WITHDRAWN:
            raise Conflict(
                gettext(
                    "The consultation is withdrawn; its documents stay as they are."
                ),
                field="status",
            )
        document = _document(consultation, document_id, field="document_id")
        if document.attachment_id is None:
            raise Conflict(
                gettext(
                    "Document '%(name)s' has no file yet; it can be reviewed once "
                    "the citizen uploads one."
                )
                % {"name": document_name(document, consultation.service)},
                field="status",
            )

        before = document.status
        document.status = status
        document.reason = reason
        document.updated_at = timezone.now()
        document.updated_by = actor
        document.save(update_fields=["status", "reason", "updated_at", "updated_by"])
        bump_version(consultation)
        _journal_document(actor, consultation, document, before)
    log.info(
        "requested_document_reviewed",
        consultation_id=consultation.pk,
        document_id=document.pk,
        status=status,
    )
    document.consultation = consultation
    return document


def checklist(consultation) -> list[RequestedDocument]:
    """Return every requested document of the consultation, oldest first."""
    documents = list(
        RequestedDocument.objects.filter(consultation=consultation).select_related(
            "attachment"
        )
    )
    for document in documents:
        document.consultation = consultation
    return documents


def pending_documents(consultation) -> list[RequestedDocument]:
    """Return the documents that still wait for a file."""
    return [d for d in checklist(consultation) if d.status in PENDING]


def document_name(document: RequestedDocument, service=None) -> str:
    """Return a requested document's name in the active language.

    A document picked from a file field of the service takes the field's
    label in the reader's language, not the one of the operator who asked.
    A name the operator typed stays as typed.
    """
    service = service or document.consultation.service
    definition = service.field(document.field) if document.field else None
    return definition.localized_label() if definition else document.name


def document_detail(document: RequestedDocument) -> dict:
    """Return a checklist entry as plain data."""
    return {
        "id": document.pk,
        "name": document_name(document),
        "field": document.field,
        "status": document.status,
        "status_label": str(DocumentStatus(document.status).label),
        "reason": document.reason,
        "attachment_id": document.attachment_id,
        "data_request_id": document.data_request_id,
        "updated_at": document.updated_at,
    }


def request_detail(actor, consultation) -> dict:
    """Return the latest data request and the checklist, as plain data.

    For the consultation's citizen and an open request, each field carries
    the value to prefill and its source (prefill.py); otherwise none.
    """
    from protokol.consultations import prefill

    request = latest_request(consultation)
    documents = [document_detail(d) for d in checklist(consultation)]
    detail = {"request": None, "checklist": documents, "prefill_consent": False}
    if actor.pk == consultation.citizen_id:
        detail["prefill_consent"] = prefill.consent_enabled(actor)
    if request is None:
        return detail

    requested = [
        d for d in consultation.service.value_fields if d.name in request.fields
    ]
    values = {}
    if request.answered_at is None:
        values = prefill.prefill_values(actor, consultation, requested)
    detail["request"] = {
        "id": request.pk,
        "comment": request.comment,
        "created_at": request.created_at,
        "answered_at": request.answered_at,
        "fields": [
            {
                "name": d.name,
                "type": d.type,
                "label": d.localized_label(),
                "help": d.localized_help(),
                "required": d.required,
                "choices": [
                    {"value": value, "label": label}
                    for value, label in d.localized_choices()
                ],
                "value": values[d.name].value if d.name in values else None,
                "source": values[d.name].source if d.name in values else None,
            }
            for d in requested
        ],
        "documents": [
            item for item in documents if item["data_request_id"] == request.pk
        ],
    }
    return detail
