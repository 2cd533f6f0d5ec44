"""Top-level routes: pages, the HTTP API and the health check."""

from django.http import JsonResponse
from django.urls import include, path
from django.utils.translation import gettext

from protokol.api.api import api
from protokol.monitoring.views import metrics
from protokol.web.views import forbidden
from protokol.web.views import not_found as page_not_found_view
from protokol.workflow.admin import site as admin_site


def healthz(request):
    return JsonResponse({"status": "ok"})


def not_found(request, exception=None):
    """Return a JSON 404 for unknown API paths and the styled page for others."""
    if request.path.startswith("/api/"):
        message = gettext("No such API path.")
        body = {"error": "not_found", "message": message, "field": None}
        return JsonResponse(body, status=404)
    return page_not_found_view(request, exception)


handler403 = forbidden
handler404 = not_found


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("pki/", include("protokol.signing.urls")),
    path("analytics/", include("protokol.analytics.urls")),
    path("notifications/", include("protokol.notifications.urls")),
    path("disputes/", include("protokol.disputes.urls")),
    path("profile/", include("protokol.profiles.urls")),
    path("admin/", admin_site.urls),
    path("privacy/", include("protokol.retention.urls")),
    path("", include("protokol.web.urls")),
]
