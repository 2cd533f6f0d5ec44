"""Request and response bodies of the HTTP API."""

import re
from datetime import datetime
from typing import Annotated

from ninja import Schema
from pydantic import BeforeValidator, ConfigDict
from pydantic_core import PydanticCustomError

from protokol.journal.canonical import format_time

DECIMAL_INTEGER = re.compile(r"-?[0-9]+", re.ASCII)


def _decimal_integer(value):
    # Pydantic's lax mode reads "1.0", "+1", " 1" and "1_0" as integers, so
    # one object would have several URLs.
    if isinstance(value, str) and not DECIMAL_INTEGER.fullmatch(value):
        raise PydanticCustomError("int_parsing", "Input should be a valid integer")
    return value


# An integer path parameter such as an id: decimal ASCII digits with an
# optional minus sign, else 422 "int_parsing" naming the parameter.
PathInt = Annotated[int, BeforeValidator(_decimal_integer)]


class StrictIn(Schema):
    """Input body that rejects unknown fields and wrong types."""

    model_config = ConfigDict(extra="forbid", strict=True)


class TokenIn(StrictIn):
    username: str
    password: str


class TokenOut(Schema):
    token: str
    token_type: str = "Bearer"


class ErrorOut(Schema):
    error: str
    message: str
    field: str | None = None


class ServiceOut(Schema):
    code: str
    name: str
    name_en: str
    department: str
    # Names of the required value fields, kept for older clients.
    required_fields: list[str]
    # Every field definition, as catalog/fields.py describes them.
    data_fields: list[dict]
    deadline_days: int


class DepartmentOut(Schema):
    code: str
    name: str
    name_en: str


class ConsultationIn(StrictIn):
    service: str
    subject: str
    description: str


class ConsultationOut(Schema):
    id: int
    number: str
    status: str
    version: int
    service: str
    department: str
    channel: str
    subject: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    deadline: datetime | None


class ConsultationList(Schema):
    items: list[ConsultationOut]
    # Stops at web.paging.COUNT_LIMIT; `more` is true when there are more.
    count: int
    more: bool = False


class MessageIn(StrictIn):
    text: str
    visibility: str = "public"
    # The consultation version the message answers; a newer one gives 409.
    base_version: int | None = None


class MessageOut(Schema):
    id: int
    author_name: str
    author_role: str
    text: str
    visibility: str
    created_at: datetime
    consultation_version: int

    @staticmethod
    def resolve_consultation_version(message) -> int:
        return message.consultation.version


class AttachmentOut(Schema):
    id: int
    name: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime
    download_url: str


class ProtocolIn(StrictIn):
    question: str
    documents: str = ""
    recommendations: str
    decision: str
    decision_reason: str
    base_version: int | None = None


class ProtocolOut(Schema):
    version: int
    question: str
    documents: str
    recommendations: str
    decision: str
    decision_reason: str
    author_name: str
    created_at: datetime
    consultation_version: int

    @staticmethod
    def resolve_consultation_version(version) -> int:
        return version.consultation.version


class TransitionIn(StrictIn):
    action: str
    comment: str = ""
    base_version: int | None = None


class ForwardIn(StrictIn):
    department: str
    reason: str
    base_version: int | None = None


class JournalEntryOut(Schema):
    index: int
    # The canonical form hashed into leaf_hash, with microseconds, so a client
    # can recompute the hash from this response.
    created_at: str
    action: str
    actor_name: str
    actor_role: str
    object_type: str
    object_id: str
    object_label: str
    request_id: str
    before: dict | None
    after: dict | None
    leaf_hash: str
    # Format 2 hashes a header that contains payload_hash in place of the
    # actor name, object label and the free-text members of before/after.
    format: int
    payload_hash: str

    @staticmethod
    def resolve_created_at(entry) -> str:
        return format_time(entry.created_at)


class IdentifiersIn(StrictIn):
    """A citizen's identifiers; a null or empty value clears the field."""

    phone: str | None = None
    passport: str | None = None
    inn: str | None = None
    snils: str | None = None
    postal_address: str | None = None


class IdentifiersOut(Schema):
    phone: str | None = None
    passport: str | None = None
    inn: str | None = None
    snils: str | None = None
    postal_address: str | None = None


class IdentifiersSaved(Schema):
    fields: list[str]


class CollectedDataIn(StrictIn):
    """Values of the service's required fields; a null or empty value clears one."""

    values: dict[str, str | None]


class CollectedDataSummary(Schema):
    required: list[str]
    given: list[str]
    missing: list[str]
    updated_at: datetime | None


class CollectedDataOut(CollectedDataSummary):
    values: dict[str, str]


class DataRequestIn(StrictIn):
    """Fields of the service's definition and named documents to ask for."""

    fields: list[str] = []
    documents: list[str] = []
    comment: str
    base_version: int | None = None


class DataAnswerIn(StrictIn):
    """Values of the requested fields; files go first to the attachments route."""

    values: dict[str, str | None] = {}
    comment: str = ""
    base_version: int | None = None


class DocumentReviewIn(StrictIn):
    status: str
    reason: str = ""
    base_version: int | None = None


class RequestedDocumentOut(Schema):
    id: int
    name: str
    field: str
    status: str
    status_label: str
    reason: str
    attachment_id: int | None
    data_request_id: int
    updated_at: datetime


class ChoiceOut(Schema):
    value: str
    label: str


class RequestedFieldOut(Schema):
    name: str
    type: str
    label: str
    help: str
    required: bool
    choices: list[ChoiceOut]
    # A value given before, and its source: "consultation" (this one) or
    # "earlier" (another consultation or the identifiers, with consent).
    value: str | None
    source: str | None


class DataRequestOut(Schema):
    id: int
    comment: str
    created_at: datetime
    answered_at: datetime | None
    fields: list[RequestedFieldOut]
    documents: list[RequestedDocumentOut]


class DataRequestDetail(Schema):
    request: DataRequestOut | None
    checklist: list[RequestedDocumentOut]
    prefill_consent: bool
    consultation_version: int


class PrefillConsentIn(StrictIn):
    enabled: bool


class PrefillConsentOut(Schema):
    enabled: bool


class LookupIn(StrictIn):
    field: str
    value: str


class CitizenOut(Schema):
    id: int
    name: str


class LookupOut(Schema):
    citizens: list[CitizenOut]
    consultations: list[ConsultationOut]
