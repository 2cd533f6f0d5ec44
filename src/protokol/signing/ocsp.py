"""The PKI's OCSP responder (RFC 6960): certificate status signed by the root CA.

The root answers for the certificates it issued, so no delegated responder
certificate is needed (RFC 6960 section 2.2). A serial on the revocation
list is "revoked"; the serial of the seal, the TSA or a staff member's
current certificate is "good"; any other serial is "unknown". Responses are
built with `cryptography`'s OCSP builder.
"""

import contextlib
import datetime

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from protokol.signing import crl, pki
from protokol.signing.models import Revocation

log = structlog.get_logger(__name__)

REQUEST_TYPE = "application/ocsp-request"
RESPONSE_TYPE = "application/ocsp-response"
# A response is valid this long; relying parties ask again after it.
RESPONSE_VALIDITY = datetime.timedelta(hours=1)
# A DER OCSPRequest for one certificate is about 100 bytes.
MAX_REQUEST_BYTES = 4096


def respond(request_der: bytes) -> bytes:
    """Return the DER OCSPResponse to a DER OCSPRequest.

    A request that does not parse gets malformedRequest, and one about a
    certificate from another issuer gets unauthorized.
    """
    try:
        request = ocsp.load_der_ocsp_request(request_der)
    except ValueError:
        log.warning("ocsp_request_malformed", bytes=len(request_der))
        return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)

    root = pki.root_certificate()
    name_hash, key_hash = issuer_hashes(root, request.hash_algorithm)
    if (request.issuer_name_hash, request.issuer_key_hash) != (name_hash, key_hash):
        log.warning(
            "ocsp_request_other_issuer", serial=format(request.serial_number, "x")
        )
        return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)

    nonce = None
    with contextlib.suppress(x509.ExtensionNotFound):
        nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value
    response = build_response(
        request.serial_number, hash_algorithm=request.hash_algorithm, nonce=nonce
    )
    return response.public_bytes(serialization.Encoding.DER)


def certificate_response(certificate: x509.Certificate) -> ocsp.OCSPResponse:
    """Return a fresh OCSP response about one certificate that the root issued."""
    return build_response(certificate.serial_number, hash_algorithm=hashes.SHA1())


def build_response(
    serial: int, *, hash_algorithm, nonce: x509.OCSPNonce | None = None
) -> ocsp.OCSPResponse:
    """Sign a successful response with the status of `serial`."""
    root = pki.root_certificate()
    name_hash, key_hash = issuer_hashes(root, hash_algorithm)
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)

    status, revoked_at, reason = _status(serial)
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=name_hash,
            issuer_key_hash=key_hash,
            serial_number=serial,
            algorithm=hash_algorithm,
            cert_status=status,
            this_update=now,
            next_update=now + RESPONSE_VALIDITY,
            revocation_time=revoked_at,
            revocation_reason=reason,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, root)
    )
    if nonce is not None:
        builder = builder.add_extension(nonce, critical=False)
    response = builder.sign(pki.root_key(), hashes.SHA256())
    log.info("ocsp_response_issued", serial=format(serial, "x"), status=status.name)
    return response


def issuer_hashes(issuer: x509.Certificate, algorithm) -> tuple[bytes, bytes]:
    """Return the hashes of the issuer's name and public key (RFC 6960 CertID)."""
    name = issuer.subject.public_bytes()
    key = issuer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.PKCS1
    )
    name_digest = hashes.Hash(algorithm)
    name_digest.update(name)
    key_digest = hashes.Hash(algorithm)
    key_digest.update(key)
    return name_digest.finalize(), key_digest.finalize()


def _status(serial: int):
    """Return (status, revocation time, reason) of the certificate with `serial`."""
    revocation = Revocation.objects.filter(serial=format(serial, "x")).first()
    if revocation is not None:
        return (
            ocsp.OCSPCertStatus.REVOKED,
            revocation.revoked_at,
            crl.REASONS[revocation.reason],
        )
    # Every sealed copy requests the status of the seal and the TSA, so their
    # serials are checked before the staff certificates, one file per member.
    directory = pki.pki_dir()
    organisation = [directory / "seal.pem", directory / "tsa.pem"]
    if serial in _serials(organisation) or serial in _serials(
        sorted((directory / "users").glob("*.pem"))
    ):
        return ocsp.OCSPCertStatus.GOOD, None, None
    return ocsp.OCSPCertStatus.UNKNOWN, None, None


def _serials(paths) -> set[int]:
    """Return the serials of the certificate files among `paths`."""
    serials = set()
    for path in paths:
        if path.exists() and not path.name.endswith(".key.pem"):
            certificate = pki.parsed_file(path, x509.load_pem_x509_certificate)
            serials.add(certificate.serial_number)
    return serials


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    response = ocsp.OCSPResponseBuilder.build_unsuccessful(status)
    return response.public_bytes(serialization.Encoding.DER)
