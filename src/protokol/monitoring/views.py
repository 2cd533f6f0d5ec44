"""GET /metrics: Prometheus metrics for the addresses or the token allowed."""

import hmac
import ipaddress

import structlog
from django.conf import settings
from django.http import JsonResponse
from django.utils.translation import gettext
from django.views.decorators.http import require_GET
from django_prometheus.exports import ExportToDjangoView

log = structlog.get_logger(__name__)


def is_allowed(request) -> bool:
    """Return whether the request comes from an allowed network or bears the token.

    The address is REMOTE_ADDR, so behind a reverse proxy it is the proxy's;
    scrapers that reach Protokol through one use the token.
    """
    config = settings.CONFIG
    token = config.metrics_token
    # The scheme name is case-insensitive (RFC 9110, section 11.1), the token is not.
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if (
        token
        and scheme.lower() == "bearer"
        and hmac.compare_digest(credentials.encode(), token.encode())
    ):
        return True

    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in config.metrics_allowed_networks)


@require_GET
def metrics(request):
    """Serve the metrics, or 403 in the API's error format."""
    if not is_allowed(request):
        log.warning(
            "metrics_denied", has_authorization="Authorization" in request.headers
        )
        body = {
            "error": "forbidden",
            "message": gettext(
                "Metrics are served to the addresses in "
                "PROTOKOL_METRICS_ALLOWED_IPS or with the bearer token "
                "PROTOKOL_METRICS_TOKEN."
            ),
            "field": None,
        }
        return JsonResponse(body, status=403)
    return ExportToDjangoView(request)
