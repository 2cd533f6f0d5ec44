"""HTTP API of a consultation's signatures, mounted under /api/v1/consultations.

Each request reads the consultation through the same visibility rule and
journal entry as the other consultation reads, so a consultation the caller
may not see returns 404.
"""

from django.http import HttpResponse
from django.utils.translation import gettext
from ninja import Router, Schema, Status

from protokol.api.schemas import PathInt
from protokol.consultations import services
from protokol.errors import NotFound
from protokol.journal.canonical import format_time
from protokol.security.services import record_denial
from protokol.signing import acknowledgement, reports
from protokol.signing.models import Signature

router = Router(tags=["signatures"])


class InclusionOut(Schema):
    index: int
    checkpoint_size: int
    root: str
    hashes: list[str]
    checkpoint: str


class JournalOut(Schema):
    index: int | None
    inclusion: InclusionOut | None
    reason: str | None


class SignatureOut(Schema):
    id: int
    protocol_version: int
    kind: str
    signer_name: str
    certificate_subject: str
    certificate_serial: str
    chain_status: str
    signing_time: str | None
    signed_data_sha256: str
    cms_valid: bool
    signing_certificate_matches: bool
    timestamp_valid: bool
    stored_hash_matches: bool
    document_matches: bool | None
    differences: list[str]
    journal: JournalOut
    valid: bool
    problems: list[str]


def _signature_out(report: reports.SignatureReport) -> dict:
    signature, check, inclusion = report.signature, report.cms, report.inclusion
    return {
        "id": signature.pk,
        "protocol_version": signature.protocol_version,
        "kind": signature.kind,
        "signer_name": signature.signer_name,
        "certificate_subject": signature.certificate_subject,
        "certificate_serial": signature.certificate_serial,
        "chain_status": check.chain_status,
        "signing_time": (
            format_time(check.timestamp_time) if check.timestamp_time else None
        ),
        "signed_data_sha256": signature.signed_data_sha256,
        "cms_valid": check.signature_valid,
        "signing_certificate_matches": check.signing_certificate_matches,
        "timestamp_valid": check.timestamp_valid,
        "stored_hash_matches": report.stored_hash_matches,
        "document_matches": report.document_matches,
        "differences": report.differences,
        "journal": {
            "index": report.signing_entry_index,
            "inclusion": None
            if inclusion is None
            else {
                "index": inclusion.index,
                "checkpoint_size": inclusion.checkpoint_size,
                "root": inclusion.root,
                "hashes": inclusion.hashes,
                "checkpoint": inclusion.note,
            },
            "reason": report.inclusion_reason or None,
        },
        "valid": report.ok,
        "problems": report.problems,
    }


@router.get("/{consultation_id}/signatures", response=list[SignatureOut])
def list_signatures(request, consultation_id: PathInt):
    """Return each signature of the consultation with the result of checking it."""
    consultation = services.read_consultation(
        request.user, consultation_id, via="api:signatures"
    )
    return [
        _signature_out(report) for report in reports.signature_reports(consultation)
    ]


@router.post("/{consultation_id}/acknowledge", response={201: SignatureOut})
def acknowledge(request, consultation_id: PathInt):
    """Acknowledge the signed protocol as the consultation's citizen, once.

    The record binds the signed document's hash to the caller's token or
    session, and the organisation seal signs it.
    """
    signature = acknowledgement.acknowledge(
        request.user, consultation_id, acknowledgement.session_of(request)
    )
    report = next(
        report
        for report in reports.signature_reports(signature.consultation)
        if report.signature.pk == signature.pk
    )
    return Status(201, _signature_out(report))


def _signature(request, consultation_id: int, signature_id: int) -> Signature:
    consultation = services.read_consultation(
        request.user, consultation_id, via="api:signature"
    )
    signature = Signature.objects.filter(
        consultation=consultation, pk=signature_id
    ).first()
    if signature is None:
        owner = Signature.objects.filter(pk=signature_id).first()
        record_denial(
            request.user,
            object_type="signature",
            object_id=signature_id,
            reason="not_found" if owner is None else "other_consultation",
            consultation_id=None if owner is None else owner.consultation_id,
        )
        raise NotFound(gettext("Signature not found."), field="signature_id")
    return signature


@router.get("/{consultation_id}/signatures/{signature_id}.p7s")
def download_signature(request, consultation_id: PathInt, signature_id: PathInt):
    """Download the detached CMS signature in DER (RFC 5652)."""
    signature = _signature(request, consultation_id, signature_id)
    response = HttpResponse(
        bytes(signature.cms), content_type="application/pkcs7-signature"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="signature-{signature.pk}.p7s"'
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


@router.get("/{consultation_id}/signatures/{signature_id}/document")
def download_document(request, consultation_id: PathInt, signature_id: PathInt):
    """Download the exact bytes the signature covers: canonical JSON (RFC 8785)."""
    signature = _signature(request, consultation_id, signature_id)
    response = HttpResponse(bytes(signature.document), content_type="application/json")
    response["Content-Disposition"] = (
        f'attachment; filename="signature-{signature.pk}-document.json"'
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response
