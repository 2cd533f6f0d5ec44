"""RFC 3161 timestamps for every consumer: the built-in TSA or an external one.

`fetch_timestamp` is the one function that issues a timestamp token. With
PROTOKOL_TSA_URL empty it requests the token from the built-in TSA
in-process. Otherwise it posts a TimeStampReq with a random nonce to that
URL (RFC 3161 section 3.4) and checks the response with rfc3161-client:
status granted, the request's nonce and message imprint, and with
PROTOKOL_TSA_CA_FILE the token's signature, the TSA certificate's
timeStamping usage and its chain.

A failure raises a ProtokolError: 503 when the TSA cannot be reached or is
overloaded, 502 when its response is unusable. A caller inside a
transaction, as signing is, rolls back everything it wrote.
"""

import http.client
import secrets
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import rfc3161_client
import structlog
from asn1crypto import algos, cms, tsp
from cryptography import x509
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext
from pyhanko.sign.timestamps.api import TimeStamper

from protokol.errors import ProtokolError
from protokol.signing import tsa

log = structlog.get_logger(__name__)

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
# A response is a few kilobytes: the token and at most a short chain.
MAX_RESPONSE_BYTES = 1024 * 1024
# HTTP statuses that mean the TSA is down or overloaded, so a retry may work.
RETRYABLE_STATUSES = {429, 500, 502, 503, 504}
DIGEST_OIDS = {
    "sha256": "2.16.840.1.101.3.4.2.1",
    "sha384": "2.16.840.1.101.3.4.2.2",
    "sha512": "2.16.840.1.101.3.4.2.3",
}


class TsaUnavailable(ProtokolError):
    """The external TSA cannot be reached, timed out or reports an outage."""

    status = 503
    code = "tsa_unavailable"


class TsaResponseInvalid(ProtokolError):
    """The external TSA responded, but not with a usable timestamp token."""

    status = 502
    code = "tsa_bad_response"


class TsaRequestRejected(TsaResponseInvalid):
    code = "tsa_rejected"


class TsaNonceMismatch(TsaResponseInvalid):
    code = "tsa_nonce_mismatch"


class TsaImprintMismatch(TsaResponseInvalid):
    code = "tsa_imprint_mismatch"


class TsaCertificateUntrusted(TsaResponseInvalid):
    code = "tsa_untrusted"


def fetch_timestamp(digest: bytes, algorithm: str = "sha256") -> cms.ContentInfo:
    """Return a timestamp token over a message imprint from the configured TSA.

    Args:
        digest: the hash of the timestamped data, computed with `algorithm`.
        algorithm: sha256, sha384 or sha512.

    Raises:
        TsaUnavailable: the external TSA cannot be reached or is overloaded.
        TsaResponseInvalid: its response is malformed, rejected, for another
            nonce or imprint, or signed by an untrusted certificate.
    """
    url = settings.CONFIG.tsa_url
    if not url:
        return cms.ContentInfo.load(tsa.issue_token(digest, algorithm))

    nonce = secrets.randbits(63)
    body = _post(url, _request(digest, algorithm, nonce).dump())
    return _checked_token(body, digest, algorithm, nonce)


class ConfiguredTimeStamper(TimeStamper):
    """A pyHanko timestamper that takes every token from `fetch_timestamp`."""

    async def async_timestamp(self, message_digest, md_algorithm) -> cms.ContentInfo:
        # A blocking call on purpose: the signer runs its own event loop in
        # the request's thread, and the error messages need that thread's
        # active language.
        return fetch_timestamp(message_digest, md_algorithm)


def timestamper() -> ConfiguredTimeStamper:
    """Return the pyHanko timestamper for CAdES-T signature timestamps."""
    return ConfiguredTimeStamper()


def _request(digest: bytes, algorithm: str, nonce: int) -> tsp.TimeStampReq:
    # rfc3161-client's request builder hashes the data itself, but CAdES-T
    # stamps a digest that pyHanko has computed, so asn1crypto builds it.
    if algorithm not in DIGEST_OIDS:
        raise ValueError(f"digest algorithm {algorithm} cannot be timestamped")
    imprint = tsp.MessageImprint(
        {
            "hash_algorithm": algos.DigestAlgorithm({"algorithm": algorithm}),
            "hashed_message": digest,
        }
    )
    return tsp.TimeStampReq(
        {"version": "v1", "message_imprint": imprint, "nonce": nonce, "cert_req": True}
    )


def _post(url: str, query: bytes) -> bytes:
    """Send the DER query and return the response body, mapping failures."""
    timeout = settings.CONFIG.tsa_timeout_seconds
    host = urlsplit(url).hostname
    request = urllib.request.Request(
        url,
        data=query,
        method="POST",
        headers={"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPE},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as error:
        log.error("tsa_http_error", host=host, http_status=error.code)
        message = gettext(
            "The timestamp authority returned HTTP status %(status)s."
        ) % {"status": error.code}
        if error.code in RETRYABLE_STATUSES:
            raise TsaUnavailable(message + " " + gettext("Try again later.")) from None
        raise TsaResponseInvalid(message) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, TimeoutError):
            log.error("tsa_timed_out", host=host, timeout_seconds=timeout)
            message = gettext(
                "The timestamp authority did not respond within %(seconds)s "
                "seconds. Try again later."
            ) % {"seconds": f"{timeout:g}"}
        else:
            log.error("tsa_unreachable", host=host, error=str(reason))
            message = gettext(
                "The timestamp authority cannot be reached. Try again later."
            )
        raise TsaUnavailable(message) from None

    if len(body) > MAX_RESPONSE_BYTES:
        log.error("tsa_response_too_large", host=host, limit=MAX_RESPONSE_BYTES)
        raise TsaResponseInvalid(_invalid_response_message())
    return body


def _checked_token(
    body: bytes, digest: bytes, algorithm: str, nonce: int
) -> cms.ContentInfo:
    """Check a TimeStampResp against its request and return its token."""
    try:
        response = rfc3161_client.decode_timestamp_response(body)
    except ValueError as error:
        log.error("tsa_response_malformed", error=str(error))
        raise TsaResponseInvalid(_invalid_response_message()) from None

    if response.status != rfc3161_client.PKIStatus.GRANTED:
        reason = "; ".join(response.status_string) or _status_name(response.status)
        log.error("tsa_request_rejected", status=response.status, reason=reason)
        raise TsaRequestRejected(
            gettext("The timestamp authority rejected the request: %(reason)s.")
            % {"reason": reason}
        )

    info = response.tst_info
    if info.nonce != nonce:
        log.error("tsa_nonce_mismatch", expected=nonce, received=info.nonce)
        raise TsaNonceMismatch(
            gettext("The timestamp token does not contain the request's nonce.")
        )
    imprint = info.message_imprint
    if (
        imprint.hash_algorithm.dotted_string != DIGEST_OIDS[algorithm]
        or imprint.message != digest
    ):
        log.error(
            "tsa_imprint_mismatch",
            algorithm=imprint.hash_algorithm.dotted_string,
            expected=digest.hex(),
            received=imprint.message.hex(),
        )
        raise TsaImprintMismatch(
            gettext("The timestamp token is for another message imprint.")
        )

    roots = _trusted_roots()
    if roots:
        _verify_chain(response, roots, digest, nonce)
    try:
        token = cms.ContentInfo.load(response.time_stamp_token())
        gen_time = tsa.token_time(token)
    except (ValueError, TypeError, KeyError) as error:
        log.error("tsa_token_malformed", error=str(error))
        raise TsaResponseInvalid(_invalid_response_message()) from None
    log.info(
        "tsa_token_fetched",
        serial_number=info.serial_number,
        gen_time=gen_time.isoformat(),
        chain_checked=bool(roots),
    )
    return token


def _verify_chain(response, roots: list[x509.Certificate], digest, nonce) -> None:
    builder = rfc3161_client.VerifierBuilder(nonce=nonce)
    for root in roots:
        builder = builder.add_root_certificate(root)
    try:
        builder.build().verify(response, digest)
    except rfc3161_client.VerificationError as error:
        log.error("tsa_certificate_untrusted", error=str(error))
        raise TsaCertificateUntrusted(
            gettext(
                "The timestamp authority's signature or certificate does not "
                "verify against PROTOKOL_TSA_CA_FILE."
            )
        ) from None


_roots_cache: dict[tuple, list[x509.Certificate]] = {}
_roots_lock = threading.Lock()


def _trusted_roots() -> list[x509.Certificate]:
    """Return the certificates of PROTOKOL_TSA_CA_FILE, cached per file version."""
    path = settings.CONFIG.tsa_ca_file
    if path is None:
        return []
    path = Path(path).expanduser()
    try:
        cache_key = (str(path), path.stat().st_mtime_ns)
        with _roots_lock:
            if cache_key not in _roots_cache:
                certificates = x509.load_pem_x509_certificates(path.read_bytes())
                _roots_cache.clear()
                _roots_cache[cache_key] = certificates
            return _roots_cache[cache_key]
    except (OSError, ValueError) as error:
        raise ImproperlyConfigured(
            f"PROTOKOL_TSA_CA_FILE {path} is not a readable PEM file of "
            f"certificates: {error}"
        ) from error


def _status_name(status: int) -> str:
    try:
        return rfc3161_client.PKIStatus(status).name.lower()
    except ValueError:
        return str(status)


def _invalid_response_message() -> str:
    return gettext("The timestamp authority sent an invalid RFC 3161 response.")
