"""Signer backends: detached CMS SignedData (CAdES-BES, optionally CAdES-T)."""

import asyncio
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from asn1crypto import cms, keys, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from django.conf import settings
from pkcs11 import PKCS11Error
from pyhanko.sign.attributes import SigningCertificateV2Provider, TSTProvider
from pyhanko.sign.general import as_signing_certificate_v2, get_pyca_cryptography_hash
from pyhanko.sign.pkcs11 import PKCS11Signer
from pyhanko.sign.signers.pdf_cms import (
    CAdESSignedAttributeProviderSpec,
    SimpleSigner,
)
from pyhanko_certvalidator.registry import SimpleCertificateStore

from protokol.signing import pki, tokens, tsa, tsa_client

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
    """Signing backend: PKCS#8 key files (software) or a PKCS#11 token (pkcs11).

    Another provider, such as a GOST one, implements `sign` and is added to
    BACKENDS and to the values that Config.signer_backend accepts.
    """

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
            pki.PkiNotConfigured: a certificate or key file is missing, or
                (tokens.TokenUnavailable) the token, its PIN or the key on
                it cannot be used.
        """
        ...


class SoftwareSigner:
    """Signs with keys decrypted from the PKI directory's PKCS#8 files.

    The seal's key is decrypted at most once per pki.KEY_CACHE_SECONDS (see
    `seal_signer`), and a staff member's key for every signature.
    """

    def sign(
        self, data: bytes, identity: pki.Identity, *, timestamp: bool = True
    ) -> SignedResult:
        seal = identity.name == "seal"
        signer = seal_signer() if seal else key_file_signer(identity)
        return _sign_cms(signer, data, identity, timestamp=timestamp)


class LoadedKeySigner(SimpleSigner):
    """A pyHanko SimpleSigner that signs with an already parsed RSA key.

    SimpleSigner parses the PKCS#8 key again for every signature, and builds
    the signing-certificate-v2 attribute again. This signer encodes that
    attribute once, which cut `pades.sign_copy` of a 10-message copy from
    about 32 to 23 to 26 ms of CPU on a 2-core machine at a load average of
    3 to 5.
    """

    def __init__(self, *, private_key, **kwargs):
        super().__init__(**kwargs)
        self.private_key = private_key
        self.signing_certificate_v2 = tsp.SigningCertificateV2.load(
            as_signing_certificate_v2(self.signing_cert).dump()
        )

    # NOTE: this overrides a private method of pyHanko 0.38's Signer, so
    # check it when upgrading pyHanko.
    def _signed_attr_provider_spec(self, attr_settings, **kwargs):
        spec = super()._signed_attr_provider_spec(attr_settings, **kwargs)
        if type(spec) is CAdESSignedAttributeProviderSpec:
            spec.__class__ = KeptCertificateAttributeSpec
            spec.signing_certificate_v2 = self.signing_certificate_v2
        return spec

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
        if mechanism.signature_algo != "rsassa_pkcs1v15":
            return super().sign_raw(data, digest_algorithm)
        digest = get_pyca_cryptography_hash(digest_algorithm)
        return self.private_key.sign(data, PKCS1v15(), digest)


class KeptCertificateAttributeSpec(CAdESSignedAttributeProviderSpec):
    """pyHanko's CAdES attribute providers with signing-certificate-v2 encoded once."""

    signing_certificate_v2: tsp.SigningCertificateV2

    def signed_attr_providers(self, data_digest: bytes, digest_algorithm: str):
        for provider in super().signed_attr_providers(data_digest, digest_algorithm):
            if type(provider) is SigningCertificateV2Provider:
                provider = KeptSigningCertificateV2(
                    self.signing_cert, self.signing_certificate_v2
                )
            yield provider


class KeptSigningCertificateV2(SigningCertificateV2Provider):
    """A signing-certificate-v2 provider that returns a value encoded before."""

    def __init__(self, signing_cert, value: tsp.SigningCertificateV2):
        super().__init__(signing_cert)
        self.value = value

    async def build_attr_value(self, dry_run=False) -> tsp.SigningCertificateV2:
        return self.value


def key_file_signer(identity: pki.Identity) -> LoadedKeySigner:
    """Return a signer with the identity's key, decrypted from its key file."""
    private_key = identity.load_key()
    key_der = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return LoadedKeySigner(
        private_key=private_key,
        signing_cert=_to_asn1(identity.certificate),
        signing_key=keys.PrivateKeyInfo.load(key_der),
        cert_registry=SimpleCertificateStore.from_certs(_chain(identity)),
    )


def seal_signer() -> LoadedKeySigner:
    """Return the seal's signer, its key decrypted at most once per KEY_CACHE_SECONDS.

    Decrypting the RSA-3072 key took about 32 ms on a 2-core machine, a
    quarter of the time to sign a copy.
    """
    return pki.cached_key_material(
        "seal",
        pki.organisation_files("seal"),
        lambda: key_file_signer(pki.organisation_identity("seal")),
    )


class Pkcs11Signer:
    """Signs with a private key that never leaves a PKCS#11 token.

    The key is the one labelled with the identity's name whose CKA_ID is the
    certificate's subjectKeyIdentifier (see tokens.py). The certificate and
    chain come from the PKI directory, as for the software backend.
    """

    def sign(
        self, data: bytes, identity: pki.Identity, *, timestamp: bool = True
    ) -> SignedResult:
        with token_signer(identity) as signer:
            signed = _signed_data(signer, data, timestamper=None)

        # The timestamp is requested after the session closes, so a slow
        # TSA does not hold the token lock that other signatures wait for.
        if timestamp:
            signed = _add_signature_timestamp(signed)
        return _result(signed, data, identity)


BACKENDS: dict[str, type] = {"software": SoftwareSigner, "pkcs11": Pkcs11Signer}


@contextmanager
def token_signer(identity: pki.Identity) -> Iterator[PKCS11Signer]:
    """Yield pyHanko's signer for the identity's key on the PKCS#11 token.

    The token's session, and the lock that serialises its use, are held
    until the block ends.

    Raises:
        tokens.TokenUnavailable: the token cannot be opened, has no key for
            the identity's certificate, or fails to sign.
    """
    identifier = tokens.key_id(identity.certificate.public_key())
    with tokens.session() as session:
        if not tokens.has_private_key(session, identity.name, identifier):
            raise tokens.TokenUnavailable(
                f"Token {tokens.token_label()!r} has no key labelled "
                f"{identity.name!r} with ID {identifier.hex()}, the key of "
                f"certificate {pki.serial_hex(identity.certificate)}: make it "
                "with `protokol pki init` or `protokol pki issue` under "
                "PROTOKOL_SIGNER_BACKEND=pkcs11, or move the key file there "
                f"with `protokol pki pkcs11-import {identity.name}`."
            )
        signer = PKCS11Signer(
            session,
            signing_cert=_to_asn1(identity.certificate),
            ca_chain=_chain(identity),
            key_label=identity.name,
            key_id=identifier,
        )
        try:
            yield signer
        except PKCS11Error as error:
            raise tokens.TokenUnavailable(
                f"Token {tokens.token_label()!r} failed to sign as "
                f"{identity.name}: {type(error).__name__} {error}"
            ) from error


@contextmanager
def seal_pdf_signer() -> Iterator[SimpleSigner | PKCS11Signer]:
    """Yield pyHanko's signer for the seal from PROTOKOL_SIGNER_BACKEND.

    With "pkcs11" the key stays on the token, whose session is held until
    the block ends; otherwise it is `seal_signer`.
    """
    if settings.CONFIG.signer_backend != "pkcs11":
        yield seal_signer()
        return
    with token_signer(pki.organisation_identity("seal")) as signer:
        yield signer


def _sign_cms(
    signer, data: bytes, identity: pki.Identity, *, timestamp: bool
) -> SignedResult:
    """Sign `data` detached with a pyHanko signer; add the timestamp if asked."""
    timestamper = tsa_client.timestamper() if timestamp else None
    return _result(_signed_data(signer, data, timestamper), data, identity)


def _signed_data(signer, data: bytes, timestamper) -> cms.ContentInfo:
    """Return the detached CAdES SignedData over `data`, CAdES-T with a timestamper."""
    # NOTE: asyncio.run fails in a thread with a running event loop, so
    # async views must call this through sync_to_async.
    # use_cades adds signing-certificate-v2 (RFC 5035) to the signed
    # attributes; the timestamper adds signature-time-stamp-token.
    return asyncio.run(
        signer.async_sign_general_data(
            data,
            DIGEST_ALGORITHM,
            detached=True,
            use_cades=True,
            timestamper=timestamper,
        )
    )


def _add_signature_timestamp(signed: cms.ContentInfo) -> cms.ContentInfo:
    """Add the signature-time-stamp-token that pyHanko's timestamper would add.

    The token's imprint is the hash of the first signer's signature value
    (CAdES-T), as `verify.check_cms` expects.
    """
    signer_info = signed["content"]["signer_infos"][0]
    provider = TSTProvider(
        DIGEST_ALGORITHM, signer_info["signature"].native, tsa_client.timestamper()
    )
    attribute = asyncio.run(provider.get_attribute())
    signer_info["unsigned_attrs"] = cms.CMSAttributes([attribute])
    return cms.ContentInfo.load(signed.dump(force=True))


def _result(
    signed: cms.ContentInfo, data: bytes, identity: pki.Identity
) -> SignedResult:
    return SignedResult(
        cms=signed.dump(),
        signed_data_sha256=hashlib.sha256(data).hexdigest(),
        certificate_serial=pki.serial_hex(identity.certificate),
        certificate_subject=pki.subject_text(identity.certificate),
        timestamp_time=signature_timestamp_time(signed),
    )


def _chain(identity: pki.Identity) -> list[asn1_x509.Certificate]:
    return [_to_asn1(certificate) for certificate in identity.chain]


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
    """Return the backend that PROTOKOL_SIGNER_BACKEND names.

    This is the one place that picks the backend for seal and staff
    signatures. Signature timestamps come from tsa_client, whichever backend
    signs.
    """
    return BACKENDS[settings.CONFIG.signer_backend]()
