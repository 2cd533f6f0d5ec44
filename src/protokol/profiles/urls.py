"""Routes of the profile page, included under /profile/."""

from django.urls import path

from protokol.profiles import views

app_name = "profiles"

urlpatterns = [path("", views.profile_page, name="edit")]
