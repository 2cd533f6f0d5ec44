"""Top-level routes: pages, the HTTP API and the health check."""

from django.http import JsonResponse
from django.urls import include, path

from protokol.api.api import api


def healthz(request):
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("protokol.web.urls")),
]
