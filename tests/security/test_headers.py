"""Security headers of real responses: CSP, framing, downloads and sessions.

Secure and HttpOnly cookies over HTTPS are checked against a real TLS server
in tests/web/test_tls.py (test_https_cookies_are_secure).
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from consultations.factories import upload
from protokol.consultations import attachments

PAGES = ["/my/", "/consultations/{c}/", "/notifications/", "/my/identifiers/"]
STAFF_PAGES = ["/queue/", "/review/", "/analytics/", "/consultations/{c}/"]


def directives(response) -> dict[str, list[str]]:
    """Return the Content-Security-Policy header as {directive: sources}."""
    policy = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *sources = part.split()
        policy[name] = sources
    return policy


@pytest.fixture
def with_file(consultation, demo):
    attachment = attachments.add_attachment(
        demo["citizen"], consultation.pk, upload("<b>x</b>.html", b"%PDF-1.4 a")
    )
    return consultation, attachment


def test_page_policy_forbids_inline_code(client, consultation, demo):
    client.force_login(demo["citizen"])

    for path in PAGES:
        response = client.get(path.format(c=consultation.pk))
        policy = directives(response)

        assert response.status_code == 200, path
        assert policy["default-src"] == ["'self'"], path
        assert policy["script-src"] == ["'self'"], path
        assert policy["style-src"] == ["'self'"], path
        assert policy["object-src"] == ["'none'"], path
        assert policy["base-uri"] == ["'none'"], path
        assert policy["frame-ancestors"] == ["'none'"], path


@pytest.mark.parametrize("username", ["citizen", "operator", "supervisor"])
def test_rendered_pages_have_no_inline_code(client, consultation, demo, username):
    client.force_login(demo[username])
    paths = PAGES if username == "citizen" else STAFF_PAGES

    for path in paths:
        html = client.get(path.format(c=consultation.pk)).content.decode()

        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert "<style" not in html, path
        assert not re.search(r"\sstyle=", html), path
        assert not re.search(r"\son[a-z]+=", html), path


def test_pages_deny_framing_and_sniffing(client):
    response = client.get("/login/")

    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert directives(response)["frame-ancestors"] == ["'none'"]


def test_api_error_has_policy(client):
    response = client.get("/api/v1/consultations")

    assert response.status_code == 401
    assert directives(response)["default-src"] == ["'self'"]


@pytest.mark.parametrize(
    "path",
    [
        "/consultations/{c}/attachments/{a}/",
        "/api/v1/consultations/{c}/attachments/{a}",
    ],
    ids=["page", "api"],
)
def test_upload_served_as_attachment(client, with_file, demo, path):
    consultation, attachment = with_file
    client.force_login(demo["citizen"])

    response = client.get(path.format(c=consultation.pk, a=attachment.pk))

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_copy_served_as_attachment(client, demo, pki_dir):
    from consultations.factories import consultation_in
    from protokol.consultations.models import Status

    signed = consultation_in(demo, Status.SIGNED)
    client.force_login(demo["citizen"])

    response = client.get(f"/api/v1/consultations/{signed.pk}/protocol.pdf")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"


def test_session_cookie_expires_after_eight_hours(client, demo):
    client.get("/login/")
    response = client.post("/login/", {"username": "citizen", "password": "demo"})
    cookie = response.cookies["sessionid"]

    assert response.status_code == 302
    assert cookie["max-age"] == 8 * 3600
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


def test_expired_session_goes_to_login(client, demo, monkeypatch):
    client.force_login(demo["citizen"])
    assert client.get("/my/").status_code == 200
    later = timezone.now() + timedelta(hours=8, minutes=1)
    monkeypatch.setattr(timezone, "now", lambda: later)

    response = client.get("/my/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
