"""HTTP API of retention and privacy, mounted at /api/v1/retention and /api/v1/privacy.

Policies, legal holds, archive grants and disposals are for staff; the
citizen's erasure request and data export are under /privacy.
"""

from datetime import datetime

from ninja import Router, Schema, Status
from pydantic import ConfigDict

from protokol.api.schemas import PathInt
from protokol.retention import erasure, export, services
from protokol.web.paging import check_page

router = Router(tags=["retention"])
privacy_router = Router(tags=["privacy"])

MAX_DISPOSALS = 1000


class PolicyIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    years: int
    end_action: str


class PolicyOut(Schema):
    service: str
    years: int
    end_action: str
    configured: bool


class HoldIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    consultation_id: int
    reason: str


class LiftIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str


class HoldOut(Schema):
    id: int
    consultation_id: int
    number: str
    reason: str
    set_at: datetime
    set_by: str
    lifted_at: datetime | None
    lift_reason: str


class GrantIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    username: str
    reason: str
    days: int


class GrantOut(Schema):
    id: int
    username: str
    reason: str
    granted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


class DisposalOut(Schema):
    consultation_id: int
    number: str
    service: str
    end_action: str
    years: int
    closed_at: datetime
    due_at: datetime
    disposed_at: datetime
    removed: dict
    journal_index: int


class ErasureIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    # Must be true: erasure deactivates the account and cannot be undone.
    confirm: bool


class ErasureOut(Schema):
    id: int
    pseudonym: str
    created_at: datetime
    response: dict
    journal_index: int


def _hold_out(hold) -> dict:
    return {
        "id": hold.pk,
        "consultation_id": hold.consultation_id,
        "number": hold.consultation.number,
        "reason": hold.reason,
        "set_at": hold.set_at,
        "set_by": hold.set_by.display_name,
        "lifted_at": hold.lifted_at,
        "lift_reason": hold.lift_reason,
    }


def _grant_out(grant) -> dict:
    return {
        "id": grant.pk,
        "username": grant.user.username,
        "reason": grant.reason,
        "granted_at": grant.granted_at,
        "expires_at": grant.expires_at,
        "revoked_at": grant.revoked_at,
    }


def _erasure_out(request) -> dict:
    return {
        "id": request.pk,
        "pseudonym": request.pseudonym,
        "created_at": request.created_at,
        "response": request.response,
        "journal_index": request.journal_index,
    }


@router.get("/policies", response=list[PolicyOut])
def list_policies(request):
    """Return each service's retention rule (supervisors, auditors, admins)."""
    return services.list_policies(request.user)


@router.put("/policies/{service_code}", response=PolicyOut)
def put_policy(request, service_code: str, body: PolicyIn):
    """Set a service's retention period in years and its end action (admins)."""
    policy = services.set_policy(
        request.user, service_code, years=body.years, end_action=body.end_action
    )
    return {
        "service": policy.service.code,
        "years": policy.years,
        "end_action": policy.end_action,
        "configured": True,
    }


@router.get("/holds", response=list[HoldOut])
def list_holds(request, active: bool = False):
    """Return legal holds, only the active ones with `active=true`."""
    return [_hold_out(h) for h in services.list_holds(request.user, active_only=active)]


@router.post("/holds", response={201: HoldOut})
def create_hold(request, body: HoldIn):
    """Set a legal hold on a consultation (supervisors, admins)."""
    hold = services.set_legal_hold(
        request.user, body.consultation_id, reason=body.reason
    )
    return Status(201, _hold_out(hold))


@router.post("/holds/{hold_id}/lift", response=HoldOut)
def lift_hold(request, hold_id: PathInt, body: LiftIn):
    """Lift a legal hold with a reason (supervisors, admins)."""
    return _hold_out(
        services.lift_legal_hold(request.user, hold_id, reason=body.reason)
    )


@router.post("/grants", response={201: GrantOut})
def create_grant(request, body: GrantIn):
    """Let an auditor or another admin see the restricted archive for some days."""
    grant = services.grant_archive_access(
        request.user, body.username, reason=body.reason, days=body.days
    )
    return Status(201, _grant_out(grant))


@router.post("/grants/{grant_id}/revoke", response=GrantOut)
def revoke_grant(request, grant_id: PathInt):
    """End an archive grant (admins)."""
    return _grant_out(services.revoke_archive_access(request.user, grant_id))


@router.get("/disposals", response=list[DisposalOut])
def list_disposals(request, limit: int = 100):
    """Return the latest deletions and archivings that the caller may see."""
    check_page(limit, 0, MAX_DISPOSALS)
    return [
        {
            "consultation_id": d.consultation_id,
            "number": d.number,
            "service": d.service_code,
            "end_action": d.end_action,
            "years": d.years,
            "closed_at": d.closed_at,
            "due_at": d.due_at,
            "disposed_at": d.disposed_at,
            "removed": d.removed,
            "journal_index": d.journal_index,
        }
        for d in services.list_disposals(request.user)[:limit]
    ]


@privacy_router.post("/erasure", response={201: ErasureOut})
def request_erasure(request, body: ErasureIn):
    """Anonymise the calling citizen; the answer lists what is kept and why."""
    answer = erasure.request_erasure(request.user, confirm=body.confirm)
    return Status(201, _erasure_out(answer))


@privacy_router.get("/erasure-requests", response=list[ErasureOut])
def list_erasure_requests(request):
    """Return the erasure requests (supervisors, auditors, admins)."""
    return [_erasure_out(r) for r in erasure.erasure_requests(request.user, via="api")]


@privacy_router.get("/export")
def get_export(request):
    """Return the calling citizen's data as one zip archive."""
    return export.export_response(request.user)
