"""Signing protocol versions; the caller's transaction journals the result."""

from typing import TYPE_CHECKING

from django.db import connection
from django.utils import timezone

from protokol.signing import crl, pki
from protokol.signing.document import protocol_document
from protokol.signing.models import Signature, SignatureKind

if TYPE_CHECKING:
    from protokol.signing.signers import Signer


def sign_protocol(
    consultation, version, actor, *, signer: "Signer | None" = None
) -> list[Signature]:
    """Sign a protocol version as the actor, if certified, and with the seal.

    Each signature is a detached CAdES-T signature over
    `protocol_document(consultation, version)`. An actor without a
    certificate, or with an expired or revoked one, adds no signature of
    their own; the organisation seal is always added. Runs inside the
    caller's transaction, which writes the journal entry.

    Raises:
        RuntimeError: called outside a transaction.
        pki.PkiNotConfigured: the PKI is not initialised.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("sign_protocol runs inside the signing transaction")
    # The signers import pyHanko (25 MiB), so a process loads it on its
    # first signature.
    from protokol.signing.signers import default_signer

    signer = signer or default_signer()
    document = protocol_document(consultation, version)

    identities = []
    actor_identity = pki.user_identity(actor.username)
    if actor_identity is not None and _usable(actor_identity):
        identities.append((SignatureKind.SIGNER, actor.display_name, actor_identity))
    seal = pki.organisation_identity("seal")
    organisation = seal.certificate.subject.rfc4514_string()
    identities.append((SignatureKind.SEAL, organisation, seal))

    signatures = []
    for kind, name, identity in identities:
        result = signer.sign(document, identity)
        signatures.append(
            Signature.objects.create(
                consultation=consultation,
                protocol_version=version.version,
                kind=kind,
                signer_name=name,
                certificate_serial=result.certificate_serial,
                certificate_subject=result.certificate_subject,
                signed_data_sha256=result.signed_data_sha256,
                document=document,
                cms=result.cms,
                timestamp_time=result.timestamp_time,
                created_at=timezone.now(),
            )
        )
    return signatures


def _usable(identity: pki.Identity) -> bool:
    certificate = identity.certificate
    now = timezone.now()
    in_validity = (
        certificate.not_valid_before_utc <= now < certificate.not_valid_after_utc
    )
    return in_validity and not crl.is_revoked(certificate)


def signature_summary(signatures: list[Signature]) -> list[dict]:
    """Return the short facts of each signature for a journal entry's `after`."""
    return [
        {
            "id": signature.pk,
            "kind": signature.kind,
            "certificate_serial": signature.certificate_serial,
            "signed_data_sha256": signature.signed_data_sha256,
        }
        for signature in signatures
    ]
