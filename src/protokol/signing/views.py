"""Public PKI endpoints: revocation list, OCSP and RFC 3161 timestamp service."""

import base64
import binascii
from urllib.parse import unquote

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from protokol.signing import crl, ocsp, pki

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"


@require_GET
def revocation_list(request):
    """Serve the current CRL in DER as application/pkix-crl (RFC 5280)."""
    body = crl.current_crl().public_bytes(serialization.Encoding.DER)
    return HttpResponse(body, content_type="application/pkix-crl")


@require_GET
def root_certificate(request):
    """Serve the root CA certificate in DER, the trust anchor for verifiers."""
    body = pki.root_certificate().public_bytes(serialization.Encoding.DER)
    return HttpResponse(body, content_type="application/pkix-cert")


@csrf_exempt
@require_POST
def timestamp(request):
    """Return the TimeStampResp for a TimeStampReq sent over HTTP (RFC 3161, 3.4)."""
    if not settings.CONFIG.tsa_http_enabled:
        raise Http404
    # pyHanko, which the TSA imports, takes 25 MiB; most workers never sign.
    from protokol.signing import tsa

    content_type = request.content_type or ""
    if content_type != QUERY_TYPE:
        return HttpResponse(
            f"Send the request as {QUERY_TYPE}.", status=415, content_type="text/plain"
        )
    if int(request.headers.get("Content-Length") or 0) > tsa.MAX_QUERY_BYTES:
        return HttpResponse(
            "The request is too large.", status=413, content_type="text/plain"
        )
    return HttpResponse(tsa.respond(request.body), content_type=REPLY_TYPE)


@csrf_exempt
@require_POST
def ocsp_post(request):
    """Return the OCSPResponse to an OCSPRequest sent by POST (RFC 6960, A.1)."""
    if (request.content_type or "") != ocsp.REQUEST_TYPE:
        return HttpResponse(
            f"Send the request as {ocsp.REQUEST_TYPE}.",
            status=415,
            content_type="text/plain",
        )
    if int(request.headers.get("Content-Length") or 0) > ocsp.MAX_REQUEST_BYTES:
        return HttpResponse(
            "The request is too large.", status=413, content_type="text/plain"
        )
    return HttpResponse(ocsp.respond(request.body), content_type=ocsp.RESPONSE_TYPE)


@require_GET
def ocsp_get(request, encoded: str):
    """Return the OCSPResponse to a base64 OCSPRequest in the URL (RFC 6960, A.1)."""
    try:
        body = base64.b64decode(unquote(encoded), validate=True)
    except (binascii.Error, ValueError):
        body = b""
    if len(body) > ocsp.MAX_REQUEST_BYTES:
        body = b""
    return HttpResponse(ocsp.respond(body), content_type=ocsp.RESPONSE_TYPE)
