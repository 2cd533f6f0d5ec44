"""Routes of the analytics pages under /analytics/."""

from django.urls import path

from protokol.analytics import views

app_name = "analytics"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("compare/", views.compare, name="compare"),
    path("problems/", views.problems, name="problems"),
    path("consultations/", views.consultations, name="consultations"),
    path("export.<str:file_format>", views.export, name="export"),
]
