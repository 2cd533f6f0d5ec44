"""Routes of the PKI: include under "pki/" in protokol/urls.py."""

from django.urls import path

from protokol.signing import views

app_name = "signing"

urlpatterns = [
    path("crl", views.revocation_list, name="crl"),
    path("root.cer", views.root_certificate, name="root"),
    path("tsa", views.timestamp, name="tsa"),
    path("ocsp", views.ocsp_post, name="ocsp"),
    path("ocsp/<path:encoded>", views.ocsp_get, name="ocsp-get"),
]
