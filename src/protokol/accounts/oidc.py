"""OpenID Connect sign-in of citizens and staff, with Authlib as the client.

The authorization code flow with PKCE (S256), `state` and `nonce`; Authlib
keeps the three in the session between the redirect and the callback. The
ID token's signature, `iss`, `aud`, `exp` and `nonce` are checked by Authlib
against the provider's discovery document, whose issuer must equal the
configured one (OpenID Connect Discovery 1.0, section 4.3).
"""

from dataclasses import dataclass
from functools import lru_cache

import structlog
from django.conf import settings
from django.utils.translation import gettext
from joserfc.errors import JoseError

from protokol.accounts.external import ExternalClaims, staff_claims
from protokol.accounts.models import Provider
from protokol.errors import NotAuthenticated, ProtokolError

log = structlog.get_logger(__name__)

HTTP_TIMEOUT_SECONDS = 10
DISCOVERY_PATH = "/.well-known/openid-configuration"


class ProviderUnavailable(ProtokolError):
    """The identity provider did not respond or responded with an error."""

    status = 502
    code = "identity_provider_unavailable"


class ProviderNotConfigured(ProtokolError):
    status = 404
    code = "not_found"


@dataclass(frozen=True)
class ClientConfig:
    """One configured OpenID client: where its provider is and who this client is."""

    provider: str
    issuer: str
    discovery_url: str
    client_id: str
    client_secret: str
    scope: str
    setting_prefix: str


def client_config(provider: str) -> ClientConfig | None:
    """Return the configured client of `provider`, or None when it is not set up."""
    config = settings.CONFIG
    if provider == Provider.CITIZEN_OIDC:
        values = (
            config.oidc_issuer,
            config.oidc_discovery_url,
            config.oidc_client_id,
            config.oidc_client_secret,
            config.oidc_scope,
            "PROTOKOL_OIDC",
        )
    elif provider == Provider.STAFF_OIDC:
        values = (
            config.oidc_staff_issuer,
            config.oidc_staff_discovery_url,
            config.oidc_staff_client_id,
            config.oidc_staff_client_secret,
            config.oidc_staff_scope,
            "PROTOKOL_OIDC_STAFF",
        )
    else:
        return None
    issuer, discovery_url, client_id, client_secret, scope, prefix = values
    if not issuer or not client_id:
        return None
    return ClientConfig(
        provider=provider,
        issuer=issuer,
        discovery_url=discovery_url or issuer.rstrip("/") + DISCOVERY_PATH,
        client_id=client_id,
        client_secret=client_secret,
        scope=scope,
        setting_prefix=prefix,
    )


def require_config(provider: str) -> ClientConfig:
    """Return the client of `provider`, or raise 404 when it is not set up."""
    config = client_config(provider)
    if config is None:
        raise ProviderNotConfigured(
            gettext("Sign-in through %(provider)s is not configured.")
            % {"provider": provider},
            field="provider",
        )
    return config


@lru_cache(maxsize=8)
def _client(config: ClientConfig):
    """Return the Authlib client of `config`, made once per configuration."""
    # Authlib and requests take 8 MiB; a process loads them on its first
    # sign-in with a provider, not to render the sign-in page.
    from authlib.integrations.django_client import OAuth

    registry = OAuth()
    return registry.register(
        name=config.provider,
        client_id=config.client_id,
        client_secret=config.client_secret,
        server_metadata_url=config.discovery_url,
        client_kwargs={
            "scope": config.scope,
            "code_challenge_method": "S256",
            "timeout": HTTP_TIMEOUT_SECONDS,
        },
    )


def _loaded_client(config: ClientConfig):
    """Return the client with its discovery document loaded and its issuer checked."""
    import requests

    client = _client(config)
    try:
        metadata = client.load_server_metadata()
    except (requests.RequestException, ValueError) as error:
        # A failed fetch must be retried on the next sign-in, not cached.
        client.server_metadata = {}
        log.warning(
            "oidc_discovery_failed",
            provider=config.provider,
            url=config.discovery_url,
            error=type(error).__name__,
        )
        raise ProviderUnavailable(
            gettext(
                "The identity provider's discovery document %(url)s could not be "
                "read; try again later or check %(setting)s_DISCOVERY_URL."
            )
            % {"url": config.discovery_url, "setting": config.setting_prefix},
            field="provider",
        ) from error

    if metadata.get("issuer") != config.issuer:
        client.server_metadata = {}
        log.warning(
            "oidc_issuer_mismatch",
            provider=config.provider,
            expected=config.issuer,
            found=metadata.get("issuer"),
        )
        raise NotAuthenticated(
            gettext(
                "The identity provider's discovery document names issuer "
                "%(found)s, not the configured %(expected)s; check "
                "%(setting)s_ISSUER."
            )
            % {
                "found": metadata.get("issuer"),
                "expected": config.issuer,
                "setting": config.setting_prefix,
            },
            field="iss",
        )
    return client


def authorization_redirect(request, config: ClientConfig, redirect_uri: str):
    """Return the redirect to the provider's authorization endpoint.

    Authlib makes `state`, `nonce` and the PKCE verifier and stores them in
    the session under the provider's name.
    """
    client = _loaded_client(config)
    return client.authorize_redirect(request, redirect_uri)


def complete(request, config: ClientConfig) -> dict:
    """Exchange the callback's code for tokens and return the validated claims.

    The claims are the ID token's, updated with the UserInfo response when the
    provider has a UserInfo endpoint. Raises NotAuthenticated (401) naming
    what failed: an error from the provider, a `state` that this session did
    not start, or an ID token that failed validation.
    """
    import requests
    from authlib.integrations.base_client import OAuthError

    client = _loaded_client(config)
    claims_options = {
        "iss": {"essential": True, "values": [config.issuer]},
        "sub": {"essential": True},
    }
    try:
        token = client.authorize_access_token(request, claims_options=claims_options)
    except OAuthError as error:
        raise _rejected(config, error.error, error.description) from error
    except JoseError as error:
        raise _rejected(config, error.error, error.description) from error
    except requests.RequestException as error:
        log.warning(
            "oidc_token_request_failed",
            provider=config.provider,
            error=type(error).__name__,
        )
        raise ProviderUnavailable(
            gettext("The identity provider did not respond; try again later."),
            field="provider",
        ) from error

    claims = dict(token.get("userinfo") or {})
    if not claims.get("sub"):
        raise _rejected(config, "missing_id_token", "no ID token in the response")
    metadata = client.load_server_metadata()
    if metadata.get("userinfo_endpoint"):
        extra = _userinfo(client, config, token)
        if extra.get("sub") != claims["sub"]:
            raise _rejected(config, "invalid_userinfo", "UserInfo sub differs")
        claims.update(extra)
    return claims


def _userinfo(client, config: ClientConfig, token: dict) -> dict:
    import requests

    try:
        return dict(client.userinfo(token=token))
    except requests.RequestException as error:
        log.warning(
            "oidc_userinfo_failed", provider=config.provider, error=type(error).__name__
        )
        raise ProviderUnavailable(
            gettext("The identity provider did not respond; try again later."),
            field="provider",
        ) from error


def _rejected(config: ClientConfig, error: str, description: str | None):
    """Return the 401 for a callback that failed, after logging why."""
    log.warning(
        "oidc_callback_rejected",
        provider=config.provider,
        error=error,
        description=description,
    )
    messages = {
        "mismatching_state": gettext(
            "The sign-in response does not belong to this browser session "
            "(state mismatch); start the sign-in again."
        ),
        "invalid_claim": gettext(
            "The identity provider's ID token is invalid: %(detail)s. Start the "
            "sign-in again."
        ),
        "missing_claim": gettext(
            "The identity provider's ID token is invalid: %(detail)s. Start the "
            "sign-in again."
        ),
    }
    default = gettext(
        "The identity provider rejected the sign-in (%(error)s): %(detail)s."
    )
    message = messages.get(error, default) % {
        "error": error,
        "detail": description or error,
    }
    field = "state" if error == "mismatching_state" else "id_token"
    return NotAuthenticated(message, field=field, reason=error)


def external_claims(config: ClientConfig, claims: dict) -> ExternalClaims:
    """Map validated OpenID claims onto the account's fields, as configured."""
    settings_config = settings.CONFIG
    values = {
        "provider": config.provider,
        "issuer": config.issuer,
        "subject": str(claims["sub"]),
        "first_name": str(claims.get("given_name") or ""),
        "middle_name": str(claims.get("middle_name") or ""),
        "last_name": str(claims.get("family_name") or ""),
    }
    if config.provider == Provider.STAFF_OIDC:
        role, departments = staff_claims(
            claims,
            role_claim=settings_config.oidc_staff_role_claim,
            departments_claim=settings_config.oidc_staff_departments_claim,
        )
        return ExternalClaims(**values, role=role, departments=departments)
    return ExternalClaims(
        **values,
        verified=claims.get(settings_config.oidc_verified_claim) is True,
        snils=str(claims.get(settings_config.oidc_snils_claim) or ""),
    )
