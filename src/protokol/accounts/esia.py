"""Sign-in through ESIA (Госуслуги), an OAuth 2.0 provider with signed client secrets.

ESIA authenticates the client by `client_secret`: a detached CMS signature,
base64url encoded, over scope + timestamp + client_id + state, made with the
organisation's key and certificate registered at ESIA. The authorization
request and the token request each sign their own state and timestamp. The
timestamp is "yyyy.MM.dd HH:mm:ss Z", e.g. "2026.12.04 21:05:09 +0000".

The ID token (RS256, signed with the key of PROTOKOL_ESIA_CERTIFICATE_FILE)
gives the person's object id; the person's name, SNILS and whether the
account is confirmed ("trusted") come from ESIA's REST API /rs/prns/{oid}.
"""

import base64
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import structlog
from cryptography import x509
from django.conf import settings
from django.utils.translation import gettext
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from joserfc.jws import JWSRegistry

from protokol.accounts.external import ExternalClaims
from protokol.accounts.models import Provider
from protokol.accounts.oidc import (
    HTTP_TIMEOUT_SECONDS,
    ProviderNotConfigured,
    ProviderUnavailable,
)
from protokol.errors import NotAuthenticated
from protokol.signing import pki

if TYPE_CHECKING:
    import requests

log = structlog.get_logger(__name__)

TIMESTAMP_FORMAT = "%Y.%m.%d %H:%M:%S %z"
AUTHORIZATION_PATH = "/aas/oauth2/ac"
TOKEN_PATH = "/aas/oauth2/te"
PERSON_PATH = "/rs/prns/"
SESSION_KEY = "esia_sign_in"
# The organisation's seal signs the client secret.
SIGNING_IDENTITY = "seal"
ID_TOKEN_ALGORITHMS = ["RS256"]


def configured() -> bool:
    config = settings.CONFIG
    return bool(config.esia_url and config.esia_client_id)


def _require_configured() -> None:
    if not configured():
        raise ProviderNotConfigured(
            gettext("Sign-in through %(provider)s is not configured.")
            % {"provider": Provider.ESIA.value},
            field="provider",
        )


def esia_timestamp(moment: datetime | None = None) -> str:
    """Return `moment` (now by default) in ESIA's "yyyy.MM.dd HH:mm:ss Z" format."""
    return (moment or datetime.now(UTC)).strftime(TIMESTAMP_FORMAT)


def client_secret(scope: str, timestamp: str, client_id: str, state: str) -> str:
    """Return the base64url detached CMS signature of the four values, concatenated.

    Raises ProviderUnavailable (502) when the organisation's seal cannot sign.
    """
    from protokol.signing import signers

    message = (scope + timestamp + client_id + state).encode()
    try:
        signed = signers.default_signer().sign(
            message, pki.organisation_identity(SIGNING_IDENTITY), timestamp=False
        )
    except (pki.PkiNotConfigured, FileNotFoundError) as error:
        log.error("esia_client_secret_failed", error=str(error))
        raise ProviderUnavailable(
            gettext(
                "The client secret for ESIA could not be signed with the "
                "organisation's seal: %(error)s. Run `protokol pki init`."
            )
            % {"error": error},
            field="client_secret",
        ) from error
    return base64.urlsafe_b64encode(signed.cms).decode()


def _signed_params(state: str) -> dict[str, str]:
    config = settings.CONFIG
    timestamp = esia_timestamp()
    return {
        "client_id": config.esia_client_id,
        "scope": config.esia_scope,
        "state": state,
        "timestamp": timestamp,
        "client_secret": client_secret(
            config.esia_scope, timestamp, config.esia_client_id, state
        ),
    }


def authorization_url(request, redirect_uri: str) -> str:
    """Return ESIA's authorization URL and remember its state in the session."""
    _require_configured()
    state = str(uuid.uuid4())
    params = {
        **_signed_params(state),
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "access_type": "online",
    }
    request.session[SESSION_KEY] = {"state": state, "redirect_uri": redirect_uri}
    base = settings.CONFIG.esia_url.rstrip("/")
    return f"{base}{AUTHORIZATION_PATH}?{urlencode(params)}"


def complete(request) -> ExternalClaims:
    """Check the callback, fetch the tokens and the person, and return the claims.

    Raises NotAuthenticated (401) naming the failed check, and
    ProviderUnavailable (502) when ESIA does not respond.
    """
    _require_configured()
    started = request.session.pop(SESSION_KEY, None)
    if request.GET.get("error"):
        raise _rejected(
            request.GET["error"], request.GET.get("error_description", ""), "provider"
        )
    if not started or request.GET.get("state") != started["state"]:
        raise _rejected("mismatching_state", "state differs from the session", "state")
    code = request.GET.get("code")
    if not code:
        raise _rejected("missing_code", "no code in the callback", "code")

    token = _token(code, started["redirect_uri"])
    claims = _id_token_claims(token.get("id_token", ""))
    oid = str(claims.get("urn:esia:sbj_id") or claims["sub"])
    person = _person(oid, token["access_token"])
    return ExternalClaims(
        provider=Provider.ESIA,
        issuer=settings.CONFIG.esia_issuer,
        subject=oid,
        first_name=str(person.get("firstName", "")),
        middle_name=str(person.get("middleName", "")),
        last_name=str(person.get("lastName", "")),
        verified=person.get("trusted") is True,
        snils=str(person.get("snils") or ""),
    )


def _base() -> str:
    return settings.CONFIG.esia_url.rstrip("/")


def _token(code: str, redirect_uri: str) -> dict:
    state = str(uuid.uuid4())
    data = {
        **_signed_params(state),
        "code": code,
        "grant_type": "authorization_code",
        "redirect_uri": redirect_uri,
        "token_type": "Bearer",
    }
    response = _call("post", _base() + TOKEN_PATH, data=data)
    body = _json(response)
    if response.status_code != 200:
        raise _rejected(
            str(body.get("error", response.status_code)),
            str(body.get("error_description", "")),
            "code",
        )
    if body.get("state") != state:
        raise _rejected("mismatching_state", "token response state differs", "state")
    if not body.get("access_token"):
        raise _rejected("missing_token", "no access token in the response", "code")
    return body


def _id_token_claims(id_token: str) -> dict:
    config = settings.CONFIG
    key = _certificate_key()
    try:
        token = jwt.decode(
            id_token, key, registry=JWSRegistry(algorithms=ID_TOKEN_ALGORITHMS)
        )
        registry = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": config.esia_issuer},
            aud={"essential": True, "value": config.esia_client_id},
            sub={"essential": True},
            exp={"essential": True},
        )
        registry.validate(token.claims)
    except (JoseError, ValueError) as error:
        code = getattr(error, "error", "invalid_token")
        description = getattr(error, "description", "") or str(error)
        raise _rejected(code, description, "id_token") from error
    return token.claims


def _certificate_key() -> RSAKey:
    path = settings.CONFIG.esia_certificate_file
    if path is None or not Path(path).is_file():
        raise ProviderUnavailable(
            gettext(
                "PROTOKOL_ESIA_CERTIFICATE_FILE is not set or not a file; set it to "
                "ESIA's PEM certificate that signs its ID tokens."
            ),
            field="id_token",
        )
    certificate = x509.load_pem_x509_certificate(Path(path).read_bytes())
    return RSAKey.import_key(certificate.public_key())


def _person(oid: str, access_token: str) -> dict:
    response = _call(
        "get",
        _base() + PERSON_PATH + oid,
        headers={"Authorization": f"Bearer {access_token}"},
    )
    if response.status_code != 200:
        raise _rejected(
            "person_unavailable", f"HTTP {response.status_code}", "access_token"
        )
    return _json(response)


def _call(method: str, url: str, **kwargs) -> "requests.Response":
    import requests

    try:
        return requests.request(method, url, timeout=HTTP_TIMEOUT_SECONDS, **kwargs)
    except requests.RequestException as error:
        log.warning("esia_request_failed", url=url, error=type(error).__name__)
        raise ProviderUnavailable(
            gettext("The identity provider did not respond; try again later."),
            field="provider",
        ) from error


def _json(response: "requests.Response") -> dict:
    try:
        body = response.json()
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {}


def _rejected(error: str, description: str, field: str) -> NotAuthenticated:
    log.warning("esia_callback_rejected", error=error, description=description)
    if error == "mismatching_state":
        message = gettext(
            "The sign-in response does not belong to this browser session "
            "(state mismatch); start the sign-in again."
        )
    else:
        message = gettext(
            "The identity provider rejected the sign-in (%(error)s): %(detail)s."
        ) % {"error": error, "detail": description or error}
    return NotAuthenticated(message, field=field, reason=error)
