"""HTTP API of disputes.

`consultation_router` is mounted under /api/v1/consultations (opening a
dispute); `router` is mounted at /api/v1/disputes.
"""

from datetime import datetime

from django.utils.translation import gettext
from ninja import Router, Schema, Status
from pydantic import ConfigDict

from protokol.api.schemas import PathInt
from protokol.disputes import permissions, services
from protokol.disputes.presenters import (
    case_file,
    conclusion_summary,
    dispute_summary,
)
from protokol.errors import ValidationFailed

MAX_PAGE = 100

consultation_router = Router(tags=["disputes"])
router = Router(tags=["disputes"])


class StrictIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)


class DisputeIn(StrictIn):
    claims: str
    # The consultation version the dispute is based on; a newer one gives 409.
    base_version: int | None = None


class ExpertIn(StrictIn):
    expert: str


class ConclusionIn(StrictIn):
    text: str


class CloseIn(StrictIn):
    outcome: str
    comment: str
    base_version: int | None = None


class DisputeOut(Schema):
    id: int
    consultation_id: int
    number: str
    subject: str
    status: str
    claims: str
    protocol_version: int | None
    opened_at: datetime
    expert: str | None
    assigned_at: datetime | None
    outcome: str | None
    closed_at: datetime | None


class SignatureOut(Schema):
    kind: str
    signer_name: str
    certificate_serial: str
    signed_data_sha256: str
    timestamp_time: datetime | None


class ConclusionOut(Schema):
    text: str
    author_name: str
    created_at: datetime
    addendum_id: int
    document_sha256: str
    signatures: list[SignatureOut]


class RecordMessageOut(Schema):
    id: int
    author_name: str
    author_role: str
    visibility: str
    text: str
    created_at: datetime


class RecordTransitionOut(Schema):
    action: str
    from_status: str
    to_status: str
    actor_name: str
    actor_role: str
    comment: str
    created_at: datetime


class RecordSignatureOut(SignatureOut):
    protocol_version: int


class RecordEntryOut(Schema):
    index: int
    created_at: datetime
    action: str
    actor_name: str
    actor_role: str


class CaseFileOut(DisputeOut):
    messages: list[RecordMessageOut]
    transitions: list[RecordTransitionOut]
    signatures: list[RecordSignatureOut]
    journal: list[RecordEntryOut]
    conclusion: ConclusionOut | None


class CandidateOut(Schema):
    username: str
    name: str
    role: str


@consultation_router.post("/{consultation_id}/disputes", response={201: DisputeOut})
def post_dispute(request, consultation_id: PathInt, body: DisputeIn):
    """Dispute the signed protocol with the citizen's claims (the citizen only)."""
    dispute = services.open_dispute(
        request.user,
        consultation_id,
        claims=body.claims,
        base_version=body.base_version,
    )
    return Status(201, dispute_summary(dispute))


@router.get("", response=list[DisputeOut])
def list_disputes(request, status: str | None = None, limit: int = 100):
    """Return the disputes the caller may see, newest first."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(
            gettext("limit must be between 1 and %(max)d.") % {"max": MAX_PAGE},
            field="limit",
        )
    disputes = list(services.list_disputes(request.user, status=status)[:limit])
    services.journal_list_read(request.user, count=len(disputes), via="api")
    return [dispute_summary(dispute) for dispute in disputes]


@router.get("/{dispute_id}", response=CaseFileOut)
def get_dispute(request, dispute_id: PathInt):
    """Return the claims beside the consultation's messages, steps and journal."""
    dispute = services.read_dispute(request.user, dispute_id, via="api")
    return case_file(dispute, request.user)


@router.get("/{dispute_id}/candidates", response=list[CandidateOut])
def get_candidates(request, dispute_id: PathInt):
    """Return the staff who qualify as the dispute's expert (supervisors)."""
    dispute = services.get_visible(request.user, dispute_id)
    services.require_manager(request.user, dispute)
    return [
        {"username": user.username, "name": user.display_name, "role": user.role}
        for user in permissions.expert_candidates(dispute)
    ]


@router.post("/{dispute_id}/expert", response=DisputeOut)
def post_expert(request, dispute_id: PathInt, body: ExpertIn):
    """Assign the expert by username (supervisors of the department)."""
    dispute = services.assign_expert(request.user, dispute_id, expert=body.expert)
    return dispute_summary(dispute)


@router.post("/{dispute_id}/conclusion", response={201: ConclusionOut})
def post_conclusion(request, dispute_id: PathInt, body: ConclusionIn):
    """Sign the expert's conclusion and add it to the protocol as an addendum."""
    conclusion = services.write_conclusion(request.user, dispute_id, text=body.text)
    return Status(201, conclusion_summary(conclusion.dispute))


@router.post("/{dispute_id}/close", response=DisputeOut)
def post_close(request, dispute_id: PathInt, body: CloseIn):
    """Conclude or reopen the consultation after the conclusion (supervisors)."""
    dispute = services.close_dispute(
        request.user,
        dispute_id,
        outcome=body.outcome,
        comment=body.comment,
        base_version=body.base_version,
    )
    return dispute_summary(dispute)
