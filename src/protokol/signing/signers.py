"""Signer backends: detached CMS SignedData (CAdES-BES, optionally CAdES-T)."""

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from asn1crypto import cms, keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.sign.signers.pdf_cms import SimpleSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore

from protokol.signing import pki, tsa, tsa_client

DIGEST_ALGORITHM = "sha256"


@dataclass(frozen=True)
class SignedResult:
    """A detached signature and the facts stored next to it.

    Fields:
        cms: DER ContentInfo of type signedData, without the content, with
            the signer's certificate chain and signing-certificate-v2.
        signed_data_sha256: hex SHA-256 of the signed bytes.
        certificate_serial: hex serial of the signing certificate.
        certificate_subject: RFC 4514 subject of the signing certificate.
        timestamp_time: genTime of the signature timestamp, None without one.
    """

    cms: bytes
    signed_data_sha256: str
    certificate_serial: str
    certificate_subject: str
    timestamp_time: datetime | None


class Signer(Protocol):
    """Signing backend: software key files now, a PKCS#11 token in future."""

    def sign(
        self, data: bytes, identity: pki.Identity, *, timestamp: bool = True
    ) -> SignedResult:
        """Sign `data` as `identity` and return a detached CAdES signature.

        Args:
            data: the exact bytes to sign; they are not embedded.
            identity: the certificate, key and chain to sign with.
            timestamp: add an RFC 3161 signature timestamp from the built-in
                TSA as an unsigned attribute (CAdES-T).

        Raises:
            pki.PkiNotConfigured: a certificate or key file is missing.
        """
        ...


class SoftwareSigner:
    """Signs with keys decrypted from the PKI directory's PKCS#8 files."""

    def sign(
        self, data: bytes, identity: pki.Identity, *, timestamp: bool = True
    ) -> SignedResult:
        key_der = identity.load_key().private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        chain = [_to_asn1(certificate) for certificate in identity.chain]
        signer = SimpleSigner(
            signing_cert=_to_asn1(identity.certificate),
            signing_key=keys.PrivateKeyInfo.load(key_der),
            cert_registry=SimpleCertificateStore.from_certs(chain),
        )

        # NOTE: asyncio.run fails in a thread with a running event loop, so
        # async views must call this through sync_to_async.
        # use_cades adds signing-certificate-v2 (RFC 5035) to the signed
        # attributes; the timestamper adds signature-time-stamp-token.
        signed = asyncio.run(
            signer.async_sign_general_data(
                data,
                DIGEST_ALGORITHM,
                detached=True,
                use_cades=True,
                timestamper=tsa_client.timestamper() if timestamp else None,
            )
        )
        return SignedResult(
            cms=signed.dump(),
            signed_data_sha256=hashlib.sha256(data).hexdigest(),
            certificate_serial=pki.serial_hex(identity.certificate),
            certificate_subject=pki.subject_text(identity.certificate),
            timestamp_time=signature_timestamp_time(signed),
        )


def _to_asn1(certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(
        certificate.public_bytes(serialization.Encoding.DER)
    )


def signature_timestamp_token(signed: cms.ContentInfo) -> cms.ContentInfo | None:
    """Return the signature-time-stamp-token of the first signer, if present."""
    signer_info = signed["content"]["signer_infos"][0]
    for attribute in signer_info["unsigned_attrs"] or []:
        if attribute["type"].native == "signature_time_stamp_token":
            return attribute["values"][0]
    return None


def signature_timestamp_time(signed: cms.ContentInfo) -> datetime | None:
    """Return the genTime of the signature timestamp, None without one."""
    token = signature_timestamp_token(signed)
    return None if token is None else tsa.token_time(token)


def default_signer() -> Signer:
    """Return the configured backend; only the software backend exists so far."""
    return SoftwareSigner()
