"""The citizen's acknowledgement of a signed protocol: a simple electronic signature.

The record binds the SHA-256 of the signed protocol document to the citizen's
account and authenticated session (a hash of the session key or the API
token's id), the time, the client address and the user agent. The
organisation seal signs the record's canonical JSON through the configured
Signer, with a timestamp, so the record can be checked without the database.
"""

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import rfc8785
import structlog
from django.db import IntegrityError, transaction
from django.utils import formats, timezone
from django.utils.translation import gettext

from protokol.accounts.models import Role
from protokol.errors import Conflict, PermissionDenied
from protokol.journal import services as journal
from protokol.journal.canonical import format_time
from protokol.journal.models import JournalAction
from protokol.signing import pki
from protokol.signing.models import Signature, SignatureKind
from protokol.signing.services import signature_summary

if TYPE_CHECKING:
    from protokol.signing.signers import Signer

log = structlog.get_logger(__name__)

RECORD_FORMAT = "protokol.acknowledgement/v1"


@dataclass(frozen=True)
class Session:
    """The authenticated session an acknowledgement is made in.

    Fields:
        kind: "session" for the page session, "token" for an API token.
        reference: hex SHA-256 of the session key, or the token's id.
        ip: the client address as the server saw it.
        user_agent: the User-Agent header.
    """

    kind: str
    reference: str
    ip: str
    user_agent: str


def session_of(request) -> Session:
    """Return the session of an authenticated request: token or page session."""
    from protokol.accounts.models import ApiToken
    from protokol.security.context import client_of

    client = client_of(request)
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        key_hash = hashlib.sha256(header[7:].strip().encode()).hexdigest()
        token = ApiToken.objects.filter(key_hash=key_hash).first()
        reference = str(token.pk) if token else ""
        return Session("token", reference, client.ip, client.user_agent)
    session_key = request.session.session_key or ""
    reference = hashlib.sha256(session_key.encode()).hexdigest() if session_key else ""
    return Session("session", reference, client.ip, client.user_agent)


def acknowledgement_record(
    consultation, seal: Signature, actor, session: Session, at
) -> bytes:
    """Return the canonical JSON (RFC 8785) of an acknowledgement record."""
    record = {
        "format": RECORD_FORMAT,
        "consultation": {"id": consultation.pk, "number": consultation.number},
        "protocol": {
            "version": seal.protocol_version,
            "signed_data_sha256": seal.signed_data_sha256,
            "seal_signature_id": seal.pk,
        },
        "citizen": {
            "id": actor.pk,
            "username": actor.username,
            "name": actor.display_name,
        },
        "session": {"kind": session.kind, "reference": session.reference},
        "client": {"ip": session.ip, "user_agent": session.user_agent},
        "acknowledged_at": format_time(at),
    }
    return rfc8785.dumps(record)


def signed_seal(consultation) -> Signature | None:
    """Return the seal signature of the latest signed protocol version, or None."""
    return (
        Signature.objects.filter(consultation=consultation, kind=SignatureKind.SEAL)
        .order_by("-protocol_version", "-id")
        .first()
    )


def acknowledgement_of(consultation) -> Signature | None:
    """Return the acknowledgement of the latest signed version, or None."""
    seal = signed_seal(consultation)
    if seal is None:
        return None
    return Signature.objects.filter(
        consultation=consultation,
        protocol_version=seal.protocol_version,
        kind=SignatureKind.ACKNOWLEDGEMENT,
    ).first()


def can_acknowledge(actor, consultation) -> bool:
    """Return whether `actor` may acknowledge the consultation's protocol now."""
    return (
        _is_citizen_of(actor, consultation)
        and signed_seal(consultation) is not None
        and acknowledgement_of(consultation) is None
    )


def _is_citizen_of(actor, consultation) -> bool:
    return actor.role == Role.CITIZEN and consultation.citizen_id == actor.pk


def acknowledge(
    actor, consultation_id, session: Session, *, signer: "Signer | None" = None
) -> Signature:
    """Record the citizen's acknowledgement of the signed protocol, once.

    Raises:
        NotFound: the consultation is not visible to `actor` (journaled).
        PermissionDenied: `actor` is not the consultation's citizen (journaled).
        Conflict: the protocol is not signed yet, it is acknowledged already,
            or the signing PKI is not set up.
    """
    from protokol.consultations.services import bump_version, get_visible
    from protokol.security.services import record_denial

    consultation = get_visible(actor, consultation_id)
    if not _is_citizen_of(actor, consultation):
        record_denial(
            actor,
            object_type="consultation",
            object_id=consultation.pk,
            reason="forbidden",
            consultation_id=consultation.pk,
            operation="acknowledge",
        )
        raise PermissionDenied(
            gettext("Only the consultation's citizen may acknowledge its protocol."),
            field="citizen",
        )

    with transaction.atomic():
        consultation = get_visible(actor, consultation_id, for_update=True)
        seal = signed_seal(consultation)
        if seal is None:
            raise Conflict(
                gettext(
                    "The protocol is not signed yet (status '%(status)s'); "
                    "it can be acknowledged after signing."
                )
                % {"status": consultation.get_status_display()},
                field="status",
            )
        existing = acknowledgement_of(consultation)
        if existing is not None:
            raise Conflict(
                gettext("You acknowledged this protocol already, at %(time)s.")
                % {
                    # Day first, as on the pages. English SHORT_DATETIME_FORMAT
                    # puts the month first and ends in "a.m." before the period.
                    "time": formats.date_format(
                        timezone.localtime(existing.created_at), "d.m.Y H:i"
                    )
                },
                field="acknowledgement",
            )

        from protokol.signing import signers

        now = timezone.now()
        record = acknowledgement_record(consultation, seal, actor, session, now)
        try:
            identity = pki.organisation_identity("seal")
            result = (signer or signers.default_signer()).sign(record, identity)
        except pki.PkiNotConfigured as error:
            log.error("acknowledgement_pki_missing", consultation_id=consultation.pk)
            raise Conflict(
                gettext(
                    "The signing PKI is not set up (%(error)s); "
                    "an administrator must run `protokol pki init`."
                )
                % {"error": error},
                field="acknowledgement",
            ) from error
        try:
            with transaction.atomic():
                signature = Signature.objects.create(
                    consultation=consultation,
                    protocol_version=seal.protocol_version,
                    kind=SignatureKind.ACKNOWLEDGEMENT,
                    signer_name=actor.display_name,
                    certificate_serial=result.certificate_serial,
                    certificate_subject=result.certificate_subject,
                    signed_data_sha256=result.signed_data_sha256,
                    document=record,
                    cms=result.cms,
                    timestamp_time=result.timestamp_time,
                    created_at=now,
                )
        except IntegrityError:
            # A concurrent request of the same citizen was first.
            raise Conflict(
                gettext("You acknowledged this protocol already."),
                field="acknowledgement",
            ) from None
        bump_version(consultation)
        journal.record(
            JournalAction.PROTOCOL_ACKNOWLEDGE,
            actor=actor,
            object_type="signature",
            object_id=signature.pk,
            object_label=consultation.number,
            consultation_id=consultation.pk,
            after={
                "protocol_version": seal.protocol_version,
                "acknowledges": seal.signed_data_sha256,
                "session": session.kind,
                "signatures": signature_summary([signature]),
            },
        )
    log.info(
        "protocol_acknowledged",
        consultation_id=consultation.pk,
        signature_id=signature.pk,
        protocol_version=seal.protocol_version,
    )
    return signature
