"""Routes of the notification pages, included under /notifications/."""

from django.urls import path

from protokol.notifications import views

app_name = "notifications"

urlpatterns = [
    path("", views.notifications_page, name="list"),
    path("read/", views.mark_read, name="mark_read"),
    path("settings/", views.settings_page, name="settings"),
]
