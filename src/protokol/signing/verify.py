"""Verifying signatures without the database: the CMS, its timestamp and chain.

`check_cms` reads no database, so `protokol verify` can check an exported
bundle anywhere; protokol.signing.reports adds the checks that need the
installation's data.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from asn1crypto import (
    cms,
    core,
    tsp,  # noqa: F401 - registers signing-certificate-v2
)
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509.oid import ExtendedKeyUsageOID
from django.utils.translation import gettext, pgettext_lazy

HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
RSA_PKCS1_ALGORITHMS = {
    "rsassa_pkcs1v15",
    "sha256_rsa",
    "sha384_rsa",
    "sha512_rsa",
}


class ChainStatus:
    """The status of a signing certificate's chain at the signing time."""

    VALID = "valid"
    REVOKED = "revoked"
    EXPIRED = "expired"
    UNTRUSTED = "untrusted"


# The statuses as reports print them.
CHAIN_STATUS_NAMES = {
    ChainStatus.VALID: pgettext_lazy("certificate chain", "valid"),
    ChainStatus.REVOKED: pgettext_lazy("certificate chain", "revoked"),
    ChainStatus.EXPIRED: pgettext_lazy("certificate chain", "expired"),
    ChainStatus.UNTRUSTED: pgettext_lazy("certificate chain", "untrusted"),
}


@dataclass(frozen=True)
class CmsCheck:
    """The result of checking one detached CAdES signature over a document.

    Fields:
        signature_valid: the message digest equals the document's digest and
            the signer's RSA signature over the signed attributes verifies.
        signing_certificate_matches: the signing-certificate-v2 attribute
            names the certificate that verified the signature.
        timestamp_valid: the RFC 3161 token is signed by a TSA certificate
            issued by the root and its imprint is the hash of the signature.
        timestamp_time: genTime of the token, None without a usable token.
        certificate_serial: hex serial of the signing certificate.
        certificate_subject: RFC 4514 subject of the signing certificate.
        chain_status: a ChainStatus value, checked at the timestamp time,
            or at the current time when there is no token.
        problems: one sentence for each failed check.
    """

    signature_valid: bool
    signing_certificate_matches: bool
    timestamp_valid: bool
    timestamp_time: datetime | None
    certificate_serial: str
    certificate_subject: str
    chain_status: str
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems


def _attribute(attributes, name: str):
    for attribute in attributes or []:
        if attribute["type"].native == name:
            return attribute["values"][0]
    return None


def _load_certificates(signed_data) -> list[x509.Certificate]:
    return [
        x509.load_der_x509_certificate(choice.chosen.dump())
        for choice in signed_data["certificates"] or []
        if choice.name == "certificate"
    ]


def _signer_certificate(signer_info, certificates) -> x509.Certificate | None:
    sid = signer_info["sid"]
    if sid.name != "issuer_and_serial_number":
        return None
    serial = sid.chosen["serial_number"].native
    for certificate in certificates:
        if certificate.serial_number == serial:
            return certificate
    return None


def _verify_signer_info(signer_info, certificate, content: bytes) -> str | None:
    """Return why the signer info does not verify over `content`, or None."""
    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    if digest_name not in HASHES:
        return gettext("digest algorithm %(name)s is not supported") % {
            "name": digest_name
        }
    algorithm = HASHES[digest_name]
    signed_attrs = signer_info["signed_attrs"]
    message_digest = _attribute(signed_attrs, "message_digest")
    if message_digest is None:
        return gettext("the signed attributes carry no message digest")
    digest = hashes.Hash(algorithm())
    digest.update(content)
    if message_digest.native != digest.finalize():
        return gettext("the message digest does not match the signed data")

    signature_algorithm = signer_info["signature_algorithm"]["algorithm"].native
    if signature_algorithm not in RSA_PKCS1_ALGORITHMS:
        return gettext("signature algorithm %(name)s is not supported") % {
            "name": signature_algorithm
        }
    # The signature covers the DER of the attributes as a SET OF (RFC 5652
    # section 5.4), not the [0] IMPLICIT tag they carry inside SignerInfo.
    encoded = b"\x31" + signed_attrs.dump()[1:]
    try:
        certificate.public_key().verify(
            signer_info["signature"].native, encoded, padding.PKCS1v15(), algorithm()
        )
    except (InvalidSignature, TypeError, ValueError):
        return gettext("the signature value does not verify with the certificate")
    return None


def _signing_certificate_matches(signer_info, certificate) -> bool:
    attribute = _attribute(signer_info["signed_attrs"], "signing_certificate_v2")
    if attribute is None:
        return False
    first = attribute["certs"][0]
    name = first["hash_algorithm"]["algorithm"].native
    if name not in HASHES:
        return False
    digest = hashes.Hash(HASHES[name]())
    digest.update(certificate.public_bytes(serialization.Encoding.DER))
    return first["cert_hash"].native == digest.finalize()


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def chain_status(
    certificate: x509.Certificate,
    roots: list[x509.Certificate],
    revocations: x509.CertificateRevocationList | None,
    at: datetime,
) -> str:
    """Return the ChainStatus of a certificate issued directly by one of `roots`.

    NOTE: the installation's PKI has no intermediate CAs, so a chain longer
    than root and leaf is reported as untrusted.
    """
    issuer = next((root for root in roots if _issued_by(certificate, root)), None)
    if issuer is None or not (
        issuer.not_valid_before_utc <= at < issuer.not_valid_after_utc
    ):
        return ChainStatus.UNTRUSTED
    if revocations is not None and revocations.is_signature_valid(issuer.public_key()):
        entry = revocations.get_revoked_certificate_by_serial_number(
            certificate.serial_number
        )
        if entry is not None:
            return ChainStatus.REVOKED
    if not certificate.not_valid_before_utc <= at < certificate.not_valid_after_utc:
        return ChainStatus.EXPIRED
    return ChainStatus.VALID


def _check_timestamp(token, signature: bytes, roots) -> tuple[datetime | None, str]:
    """Check a signature-time-stamp-token; return its genTime and a problem or ""."""
    signed_data = token["content"]
    content = signed_data["encap_content_info"]["content"]
    info = content.parsed if isinstance(content, core.ParsableOctetString) else content
    imprint = info["message_imprint"]
    name = imprint["hash_algorithm"]["algorithm"].native
    gen_time = info["gen_time"].native
    if name not in HASHES:
        return gen_time, gettext("the timestamp imprint uses an unsupported digest")
    digest = hashes.Hash(HASHES[name]())
    digest.update(signature)
    if imprint["hashed_message"].native != digest.finalize():
        return gen_time, gettext(
            "the timestamp imprint does not match the signature value"
        )

    signer_info = signed_data["signer_infos"][0]
    certificate = _signer_certificate(signer_info, _load_certificates(signed_data))
    if certificate is None:
        return gen_time, gettext(
            "the timestamp token does not contain the TSA certificate"
        )
    problem = _verify_signer_info(signer_info, certificate, content.contents)
    if problem is not None:
        return gen_time, gettext("timestamp token: %(problem)s") % {"problem": problem}
    try:
        usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        usage = None
    if usage is None or list(usage.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        return gen_time, gettext("the timestamp certificate is not a TSA certificate")
    if chain_status(certificate, roots, None, gen_time) != ChainStatus.VALID:
        return gen_time, gettext("the TSA certificate is not issued by a trusted root")
    return gen_time, ""


def check_timestamp_token(token_der: bytes, data: bytes, roots):
    """Check an RFC 3161 token over `data`; return its genTime and a problem or ""."""
    return _check_timestamp(cms.ContentInfo.load(token_der), data, roots)


def check_cms(
    cms_der: bytes,
    document: bytes,
    roots: list[x509.Certificate],
    revocations: x509.CertificateRevocationList | None = None,
    timestamp_roots: list[x509.Certificate] = (),
) -> CmsCheck:
    """Check a detached CAdES-T signature over `document`, without the database.

    Args:
        cms_der: DER ContentInfo of type signedData, without the content.
        document: the bytes the signature claims to cover.
        roots: the trusted root certificates.
        revocations: a CRL issued by the root; an invalid one is ignored.
        timestamp_roots: further roots trusted for timestamp tokens only,
            such as an external TSA's CA.

    Returns:
        A CmsCheck; its `problems` are empty only when every check passed.
    """
    try:
        content_info = cms.ContentInfo.load(bytes(cms_der), strict=True)
        signed_data = content_info["content"]
        signer_info = signed_data["signer_infos"][0]
        certificates = _load_certificates(signed_data)
    except (ValueError, TypeError, KeyError, IndexError) as error:
        message = gettext("the CMS is not valid DER SignedData: %(error)s") % {
            "error": error
        }
        return CmsCheck(
            False, False, False, None, "", "", ChainStatus.UNTRUSTED, (message,)
        )

    problems = []
    certificate = _signer_certificate(signer_info, certificates)
    if certificate is None:
        problems.append(gettext("the CMS does not contain the signer's certificate"))
        return CmsCheck(
            False, False, False, None, "", "", ChainStatus.UNTRUSTED, tuple(problems)
        )

    problem = _verify_signer_info(signer_info, certificate, document)
    if problem is not None:
        problems.append(problem)
    certificate_matches = _signing_certificate_matches(signer_info, certificate)
    if not certificate_matches:
        problems.append(
            gettext("the signing-certificate-v2 attribute does not name the signer")
        )

    token = _attribute(signer_info["unsigned_attrs"], "signature_time_stamp_token")
    timestamp_time = None
    if token is None:
        problems.append(gettext("the signature carries no timestamp token"))
    else:
        timestamp_time, timestamp_problem = _check_timestamp(
            token, signer_info["signature"].native, [*roots, *timestamp_roots]
        )
        if timestamp_problem:
            problems.append(timestamp_problem)

    at = timestamp_time or datetime.now(UTC)
    status = chain_status(certificate, roots, revocations, at)
    if status != ChainStatus.VALID:
        problems.append(
            gettext("the signing certificate is %(status)s") % {"status": status}
        )
    return CmsCheck(
        signature_valid=problem is None,
        signing_certificate_matches=certificate_matches,
        timestamp_valid=token is not None and not timestamp_problem,
        timestamp_time=timestamp_time,
        certificate_serial=format(certificate.serial_number, "x"),
        certificate_subject=certificate.subject.rfc4514_string(),
        chain_status=status,
        problems=tuple(problems),
    )


def document_differences(signed: bytes, current: bytes) -> list[str]:
    """Name the parts of the current document that differ from the signed one.

    Messages and attachments are matched by id, so the result reads
    "messages[id=12].sha256" rather than a list position.
    """
    try:
        before, after = json.loads(signed), json.loads(current)
    except ValueError:
        return ["document"]
    differences = []
    for section in ("format", "organisation", "consultation", "protocol"):
        old, new = before.get(section), after.get(section)
        if isinstance(old, dict) and isinstance(new, dict):
            for key in sorted(old.keys() | new.keys()):
                if old.get(key) != new.get(key):
                    differences.append(f"{section}.{key}")
        elif old != new:
            differences.append(section)
    for section in ("messages", "attachments"):
        old = {item.get("id"): item for item in before.get(section) or []}
        new = {item.get("id"): item for item in after.get(section) or []}
        for item_id in sorted(old.keys() | new.keys(), key=str):
            if item_id not in new:
                differences.append(f"{section}[id={item_id}] removed")
            elif item_id not in old:
                differences.append(f"{section}[id={item_id}] added")
            else:
                for key in sorted(old[item_id].keys() | new[item_id].keys()):
                    if old[item_id].get(key) != new[item_id].get(key):
                        differences.append(f"{section}[id={item_id}].{key}")
    return differences
