"""django-helpdesk under /helpdesk/, its REST API at /helpdesk/api/."""

from django.http import HttpResponse
from django.urls import include, path

urlpatterns = [
    path("healthz", lambda request: HttpResponse("ok")),
    path("helpdesk/", include("helpdesk.urls")),
]
