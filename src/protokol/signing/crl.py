"""Revoking certificates of the PKI and issuing its certificate revocation list."""

import datetime
import threading

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from django.db import IntegrityError, transaction
from django.utils import timezone

from protokol.signing import pki
from protokol.signing.models import Revocation

log = structlog.get_logger(__name__)

# A CRL is valid this long; the view issues a new one when half of it is gone.
CRL_VALIDITY = datetime.timedelta(days=7)
CRL_FILE = "crl.pem"
REASONS = {flag.name: flag for flag in x509.ReasonFlags}

_issue_lock = threading.Lock()


class AlreadyRevoked(Exception):
    """The certificate is on the revocation list already."""


def revoke(certificate: x509.Certificate, reason: str = "unspecified") -> Revocation:
    """Record the certificate as revoked and issue a new CRL.

    `reason` is an RFC 5280 CRLReason as named by x509.ReasonFlags, such as
    "key_compromise" or "superseded".
    """
    if reason not in REASONS:
        raise ValueError(
            f"Unknown revocation reason {reason!r}; use one of {', '.join(REASONS)}."
        )
    try:
        with transaction.atomic():
            revocation = Revocation.objects.create(
                serial=pki.serial_hex(certificate),
                subject=pki.subject_text(certificate),
                reason=reason,
                revoked_at=timezone.now(),
            )
    except IntegrityError as error:
        raise AlreadyRevoked(
            f"Certificate {pki.serial_hex(certificate)} is revoked already."
        ) from error

    log.info("pki_certificate_revoked", serial=revocation.serial, reason=reason)
    issue_crl()
    return revocation


def is_revoked(certificate: x509.Certificate) -> bool:
    """Return whether the certificate is on the revocation list."""
    return Revocation.objects.filter(serial=pki.serial_hex(certificate)).exists()


def issue_crl() -> x509.CertificateRevocationList:
    """Sign a CRL of every revocation with the root key and store it as crl.pem."""
    with _issue_lock:
        now = datetime.datetime.now(datetime.UTC)
        root = pki.root_certificate()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(root.subject)
            .last_update(now)
            .next_update(now + CRL_VALIDITY)
            # Microseconds since the epoch increase with every CRL issued.
            .add_extension(x509.CRLNumber(int(now.timestamp() * 1_000_000)), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root.public_key()),
                critical=False,
            )
        )
        for revocation in Revocation.objects.order_by("id"):
            entry = (
                x509.RevokedCertificateBuilder()
                .serial_number(int(revocation.serial, 16))
                .revocation_date(revocation.revoked_at)
                .add_extension(x509.CRLReason(REASONS[revocation.reason]), False)
                .build()
            )
            builder = builder.add_revoked_certificate(entry)

        crl = builder.sign(pki.root_key(), hashes.SHA256())
        path = pki.pki_dir() / CRL_FILE
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
        temporary.replace(path)
    log.info("pki_crl_issued", revoked=len(crl))
    return crl


def current_crl() -> x509.CertificateRevocationList:
    """Return the stored CRL, issuing a new one when it is missing or half expired."""
    path = pki.pki_dir() / CRL_FILE
    if path.exists():
        crl = pki.parsed_file(path, x509.load_pem_x509_crl)
        remaining = crl.next_update_utc - datetime.datetime.now(datetime.UTC)
        if remaining > CRL_VALIDITY / 2:
            return crl
    return issue_crl()
