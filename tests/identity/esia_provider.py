"""A small ESIA-compatible provider on loopback for the ESIA sign-in tests.

It implements the three endpoints Protokol calls: the authorization endpoint
/aas/oauth2/ac, the token endpoint /aas/oauth2/te and the person resource
/rs/prns/{oid}. Like ESIA it authenticates the client by `client_secret`, a
detached CMS signature over scope + timestamp + client_id + state, checked
against the client's registered certificate (the installation's seal), and
rejects a bad one with 400 invalid_client. The authorization endpoint signs
in `next_oid` at once, since ESIA's own login pages are out of scope.
"""

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.jwk import RSAKey
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.generic_cms import validate_sig_integrity

TIMESTAMP_FORMAT = "%Y.%m.%d %H:%M:%S %z"
# ESIA rejects client secrets whose timestamp is further than this from now.
TIMESTAMP_TOLERANCE = timedelta(minutes=5)


def verify_client_secret(
    secret: str, message: bytes, certificate: x509.Certificate
) -> str | None:
    """Return why `secret` is not a signature of `message` by `certificate`, or None."""
    try:
        der = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
        signed_data = cms.ContentInfo.load(der, strict=True)["content"]
        signer_info = signed_data["signer_infos"][0]
    except (ValueError, TypeError, KeyError, IndexError) as error:
        return f"client_secret is not a base64url CMS SignedData: {error}"

    algorithm = signer_info["digest_algorithm"]["algorithm"].native
    if algorithm != "sha256":
        return f"unexpected digest algorithm {algorithm}"
    pinned = asn1_x509.Certificate.load(
        certificate.public_bytes(serialization.Encoding.DER)
    )
    try:
        intact, valid = validate_sig_integrity(
            signer_info, pinned, "data", hashlib.sha256(message).digest()
        )
    except SignatureValidationError:
        # The signed signing-certificate-v2 attribute names another certificate.
        return "the signature was made for another certificate than the registered one"
    if not intact:
        return "the signature does not cover these values"
    if not valid:
        return "the signature was not made with the registered certificate's key"
    return None


def self_signed(common_name: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """Return a new RSA key and a self-signed certificate of it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, certificate


@dataclass
class EsiaProvider:
    """State of the provider: its client, people, issued codes and tokens."""

    client_id: str
    client_certificate: x509.Certificate
    signing_key: rsa.RSAPrivateKey
    persons: dict[str, dict]
    url: str = ""
    issuer: str = ""
    next_oid: str = ""
    codes: dict[str, dict] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    # Reasons of the rejected requests, newest last, for assertions.
    rejections: list[str] = field(default_factory=list)

    def check_secret(self, params: dict[str, str]) -> str | None:
        """Return why the request's client authentication fails, or None."""
        if params.get("client_id") != self.client_id:
            return "unknown client_id"
        try:
            # The format ends in %z, so the result is timezone-aware.
            moment = datetime.strptime(  # noqa: DTZ007 - the format has %z
                params.get("timestamp", ""), TIMESTAMP_FORMAT
            )
        except ValueError:
            return "timestamp is not in the format yyyy.MM.dd HH:mm:ss Z"
        if abs(datetime.now(UTC) - moment) > TIMESTAMP_TOLERANCE:
            return "timestamp is too far from the current time"
        message = (
            params.get("scope", "")
            + params["timestamp"]
            + params["client_id"]
            + params.get("state", "")
        ).encode()
        return verify_client_secret(
            params.get("client_secret", ""), message, self.client_certificate
        )

    def id_token(self, oid: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": oid,
            "urn:esia:sbj_id": oid,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "auth_time": now,
        }
        pem = self.signing_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return jwt.encode({"alg": "RS256"}, claims, RSAKey.import_key(pem))


class _Handler(BaseHTTPRequestHandler):
    provider: EsiaProvider

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def _json(self, status: int, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _reject(self, reason: str) -> None:
        self.provider.rejections.append(reason)
        self._json(400, {"error": "invalid_client", "error_description": reason})

    def do_GET(self):  # noqa: N802 - the base class's name
        url = urlsplit(self.path)
        if url.path == "/aas/oauth2/ac":
            self._authorize({k: v[0] for k, v in parse_qs(url.query).items()})
        elif url.path.startswith("/rs/prns/"):
            self._person(url.path.removeprefix("/rs/prns/"))
        else:
            self._json(404, {"error": "not_found"})

    def do_POST(self):  # noqa: N802 - the base class's name
        if urlsplit(self.path).path != "/aas/oauth2/te":
            self._json(404, {"error": "not_found"})
            return
        length = int(self.headers.get("Content-Length", "0"))
        body = parse_qs(self.rfile.read(length).decode())
        self._token({k: v[0] for k, v in body.items()})

    def _authorize(self, params: dict[str, str]) -> None:
        problem = self.provider.check_secret(params)
        if problem:
            self._reject(problem)
            return
        code = secrets.token_urlsafe(16)
        self.provider.codes[code] = {
            "oid": self.provider.next_oid,
            "redirect_uri": params.get("redirect_uri", ""),
        }
        query = urlencode({"code": code, "state": params.get("state", "")})
        self.send_response(302)
        self.send_header("Location", f"{params.get('redirect_uri', '')}?{query}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _token(self, params: dict[str, str]) -> None:
        problem = self.provider.check_secret(params)
        if problem:
            self._reject(problem)
            return
        grant = self.provider.codes.pop(params.get("code", ""), None)
        if grant is None or grant["redirect_uri"] != params.get("redirect_uri"):
            self.provider.rejections.append("invalid code")
            self._json(400, {"error": "invalid_grant"})
            return
        access_token = secrets.token_urlsafe(24)
        self.provider.tokens[access_token] = grant["oid"]
        self._json(
            200,
            {
                "access_token": access_token,
                "id_token": self.provider.id_token(grant["oid"]),
                "state": params.get("state", ""),
                "token_type": "Bearer",
                "expires_in": 3600,
            },
        )

    def _person(self, oid: str) -> None:
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.provider.tokens.get(token) != oid:
            self._json(401, {"error": "invalid_token"})
            return
        self._json(200, self.provider.persons[oid])


def start(provider: EsiaProvider, port: int) -> ThreadingHTTPServer:
    """Serve `provider` on 127.0.0.1:`port` in a daemon thread; return the server."""
    handler = type("Handler", (_Handler,), {"provider": provider})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    provider.url = f"http://127.0.0.1:{port}"
    provider.issuer = provider.issuer or provider.url + "/"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
