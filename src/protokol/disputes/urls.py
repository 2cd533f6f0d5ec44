"""Routes of the dispute pages, included under /disputes/."""

from django.urls import path

from protokol.disputes import views

app_name = "disputes"

urlpatterns = [
    path("", views.dispute_list, name="list"),
    path("<int:dispute_id>/", views.dispute_page, name="detail"),
    path("<int:dispute_id>/expert/", views.post_expert, name="post_expert"),
    path("<int:dispute_id>/conclusion/", views.post_conclusion, name="post_conclusion"),
    path("<int:dispute_id>/close/", views.post_close, name="post_close"),
]
