"""The project's routes plus the PKI's under pki/, as protokol/urls.py will be."""

from django.urls import include, path

from protokol.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("pki/", include("protokol.signing.urls")),
    *project_urlpatterns,
]
