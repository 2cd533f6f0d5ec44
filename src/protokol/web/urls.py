"""Routes of the server-rendered pages."""

from django.urls import path

from protokol.web import (
    consultation_views,
    copy_views,
    data_request_views,
    identity_views,
    live_views,
    personal_views,
    verify_views,
    views,
)

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("login/oidc/<str:provider>/", identity_views.oidc_start, name="oidc_start"),
    path(
        "login/oidc/<str:provider>/callback/",
        identity_views.oidc_callback,
        name="oidc_callback",
    ),
    path("login/esia/", identity_views.esia_start, name="esia_start"),
    path("login/esia/callback/", identity_views.esia_callback, name="esia_callback"),
    path("login/otp/", identity_views.otp_verify, name="otp_verify"),
    path("login/otp/enrol/", identity_views.otp_enrol, name="otp_enrol"),
    path("verify", verify_views.verify_page, name="verify"),
    path("my/", views.my_consultations, name="my_consultations"),
    path("my/identifiers/", personal_views.my_identifiers, name="my_identifiers"),
    path("queue/", views.queue, name="queue"),
    path("review/", views.review_queue, name="review_queue"),
    path("consultations/new/", views.new_consultation, name="new_consultation"),
    path(
        "consultations/<int:consultation_id>/",
        consultation_views.consultation_page,
        name="consultation",
    ),
    path(
        "consultations/<int:consultation_id>/messages/",
        consultation_views.post_message,
        name="post_message",
    ),
    path(
        "consultations/<int:consultation_id>/attachments/",
        consultation_views.post_attachment,
        name="post_attachment",
    ),
    path(
        "consultations/<int:consultation_id>/attachments/<int:attachment_id>/",
        consultation_views.download_attachment,
        name="download_attachment",
    ),
    path(
        "consultations/<int:consultation_id>/protocol/",
        consultation_views.post_protocol,
        name="post_protocol",
    ),
    path(
        "consultations/<int:consultation_id>/transitions/",
        consultation_views.post_transition,
        name="post_transition",
    ),
    path(
        "consultations/<int:consultation_id>/forward/",
        consultation_views.post_forward,
        name="post_forward",
    ),
    path(
        "consultations/<int:consultation_id>/events/",
        live_views.consultation_events,
        name="consultation_events",
    ),
    path(
        "consultations/<int:consultation_id>/extend/",
        consultation_views.post_extension,
        name="post_extension",
    ),
    path("queue/events/", live_views.queue_events, name="queue_events"),
    path(
        "consultations/<int:consultation_id>/data/",
        personal_views.post_collected_data,
        name="post_collected_data",
    ),
    path(
        "consultations/<int:consultation_id>/data-request/",
        data_request_views.post_data_request,
        name="post_data_request",
    ),
    path(
        "consultations/<int:consultation_id>/data-request/answer/",
        data_request_views.post_data_answer,
        name="post_data_answer",
    ),
    path(
        "consultations/<int:consultation_id>/documents/<int:document_id>/",
        data_request_views.post_document_review,
        name="post_document_review",
    ),
    path(
        "consultations/<int:consultation_id>/documents/<int:document_id>/file/",
        data_request_views.post_document_upload,
        name="post_document_upload",
    ),
    path(
        "my/identifiers/prefill/",
        data_request_views.post_prefill_consent,
        name="post_prefill_consent",
    ),
    path(
        "consultations/<int:consultation_id>/acknowledge/",
        consultation_views.post_acknowledge,
        name="post_acknowledge",
    ),
    path(
        "consultations/<int:consultation_id>/protocol.pdf",
        consultation_views.protocol_pdf,
        name="protocol_pdf",
    ),
    path("copy-jobs/<str:token>/", copy_views.copy_job, name="copy_job"),
    path("copy-jobs/<str:token>/file/", copy_views.copy_job_file, name="copy_job_file"),
]
