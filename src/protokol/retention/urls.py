"""Routes of the privacy pages, included under /privacy/."""

from django.urls import path

from protokol.retention import views

app_name = "retention"

urlpatterns = [
    path("", views.privacy_page, name="privacy"),
    path("export/", views.export_download, name="export"),
    path("erasure/", views.erasure_submit, name="erasure"),
    path("requests/", views.requests_page, name="requests"),
]
