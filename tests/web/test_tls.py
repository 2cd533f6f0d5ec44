"""HTTPS served by uvicorn with the `protokol tls-cert` certificate, and the
security settings that PROTOKOL_TLS turns on."""

import http.client
import re
import ssl
import stat
import subprocess
import urllib.parse
from http.cookies import SimpleCookie

import pytest

from protokol import settings as protokol_settings
from protokol import tls
from protokol.settings import Config, security_settings
from uvicorn_process import prepare_data_dir, serve

HOST = "127.0.0.1"


@pytest.fixture(scope="module")
def https_server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tls-server")
    prepare_data_dir(data_dir)
    files = tls.ensure_certificate(data_dir / "tls")
    with serve(
        data_dir,
        {"PROTOKOL_TLS": "1"},
        certfile=files.certificate,
        keyfile=files.key,
        cafile=files.ca_certificate,
    ) as server:
        yield server, files


@pytest.fixture(scope="module")
def http_server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("plain-server")
    prepare_data_dir(data_dir)
    with serve(data_dir) as server:
        yield server


def connect(url: str, cafile=None) -> http.client.HTTPConnection:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=str(cafile))
        return http.client.HTTPSConnection(
            parts.hostname, parts.port, context=context, timeout=30
        )
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)


def fetch(url, path, *, cafile=None, method="GET", body=None, headers=None):
    connection = connect(url, cafile)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


def cookies_of(response) -> SimpleCookie:
    cookies = SimpleCookie()
    for header in response.headers.get_all("Set-Cookie") or []:
        cookies.load(header)
    return cookies


def log_in(url, cafile=None):
    """Post the demo reviewer's credentials with a CSRF token; return the response."""
    page, body = fetch(url, "/login/", cafile=cafile)
    csrf_cookie = cookies_of(page)["csrftoken"]
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
    form = urllib.parse.urlencode(
        {
            "username": "reviewer",
            "password": "demo",
            "csrfmiddlewaretoken": token.decode(),
        }
    )
    response, _ = fetch(
        url,
        "/login/",
        cafile=cafile,
        method="POST",
        body=form,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={csrf_cookie.value}",
            "Referer": f"{url}/login/",
            "Origin": url,
        },
    )
    return page, response


def test_healthz_over_https_sends_hsts(https_server):
    server, files = https_server

    response, body = fetch(server.url, "/healthz", cafile=files.ca_certificate)

    assert response.status == 200
    assert body == b'{"status": "ok"}'
    assert response.headers["Strict-Transport-Security"] == "max-age=3600"


def test_https_cookies_are_secure(https_server):
    server, files = https_server

    page, response = log_in(server.url, files.ca_certificate)
    csrf = cookies_of(page)["csrftoken"]
    session = cookies_of(response)["sessionid"]

    assert page.status == 200
    assert page.headers["Strict-Transport-Security"] == "max-age=3600"
    assert response.status == 302, response.headers
    assert response.headers["Location"] == "/"
    assert csrf["secure"] is True
    assert session["secure"] is True
    assert session["httponly"] is True


def test_https_rejects_other_ca(https_server, tmp_path):
    server, _ = https_server
    other = tls.ensure_certificate(tmp_path / "other")

    with pytest.raises(ssl.SSLCertVerificationError):
        fetch(server.url, "/healthz", cafile=other.ca_certificate)


def test_plain_http_has_no_hsts(http_server):
    response, _ = fetch(http_server.url, "/healthz")

    assert response.status == 200
    assert "Strict-Transport-Security" not in response.headers


def test_plain_http_demo_cookies_not_secure(http_server):
    page, response = log_in(http_server.url)

    assert response.status == 302
    assert cookies_of(page)["csrftoken"]["secure"] == ""
    assert cookies_of(response)["sessionid"]["secure"] == ""


def test_test_settings_send_no_hsts(client):
    # The suite runs without PROTOKOL_TLS, so even an HTTPS request gets none.
    response = client.get("/healthz", secure=True)

    assert protokol_settings.SECURE_HSTS_SECONDS == 0
    assert "Strict-Transport-Security" not in response.headers


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"demo": True},
            {
                "SESSION_COOKIE_SECURE": False,
                "SECURE_HSTS_SECONDS": 0,
                "SECURE_SSL_REDIRECT": False,
                "SECURE_PROXY_SSL_HEADER": None,
            },
        ),
        (
            {"demo": False},
            {
                "SESSION_COOKIE_SECURE": True,
                "SECURE_HSTS_SECONDS": 0,
                "SECURE_SSL_REDIRECT": False,
            },
        ),
        (
            {"demo": True, "tls": True},
            {
                "SESSION_COOKIE_SECURE": True,
                "CSRF_COOKIE_SECURE": True,
                "SECURE_HSTS_SECONDS": 3600,
                "SECURE_SSL_REDIRECT": False,
                "SECURE_PROXY_SSL_HEADER": None,
            },
        ),
        (
            {
                "tls": True,
                "hsts_seconds": 31536000,
                "tls_proxy_header": "X-Forwarded-Proto",
            },
            {
                "SECURE_HSTS_SECONDS": 31536000,
                "SECURE_SSL_REDIRECT": True,
                "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
            },
        ),
    ],
)
def test_security_settings(env, expected):
    values = security_settings(Config(**env))

    for name, value in expected.items():
        assert values[name] == value, name


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tls_proxy_header", "X-Forwarded-Proto: https"),
        ("hsts_seconds", -1),
        ("tsa_url", "ftp://tsa.example/"),
        ("tsa_timeout_seconds", 0),
        ("tsa_ca_file", "/nonexistent/ca.pem"),
    ],
)
def test_invalid_setting_names_variable(field, value):
    with pytest.raises(ValueError, match=f"PROTOKOL_{field.upper()}"):
        Config(**{field: value})


def test_certificate_created_once(tmp_path):
    first = tls.ensure_certificate(tmp_path / "tls")
    certificate = first.certificate.read_bytes()
    key = first.key.read_bytes()

    second = tls.ensure_certificate(tmp_path / "tls")

    assert second.certificate.read_bytes() == certificate
    assert second.key.read_bytes() == key
    assert stat.S_IMODE(first.key.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "tls" / "ca.key.pem").stat().st_mode) == 0o600


def test_certificate_reissued_for_new_host(tmp_path):
    first = tls.ensure_certificate(tmp_path / "tls")
    key = first.key.read_bytes()
    certificate = first.certificate.read_bytes()

    tls.ensure_certificate(tmp_path / "tls", [*tls.DEFAULT_HOSTS, "protokol.test"])

    assert first.certificate.read_bytes() != certificate
    assert first.key.read_bytes() == key
    result = subprocess.run(
        ["openssl", "verify", "-CAfile", first.ca_certificate, first.certificate],
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()


def test_certificate_reissued_for_new_ca(tmp_path):
    first = tls.ensure_certificate(tmp_path / "tls")
    (tmp_path / "tls" / "ca.key.pem").unlink()
    first.ca_certificate.unlink()

    tls.ensure_certificate(tmp_path / "tls")

    result = subprocess.run(
        ["openssl", "verify", "-CAfile", first.ca_certificate, first.certificate],
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()


@pytest.mark.parametrize(
    "host",
    [
        "bad host",
        "",
        "-leading.example.org",
        "trailing-.example.org",
        "two..dots.example.org",
        "under_score.example.org",
        "ends.with.dot.",
        f"{'a' * 64}.example.org",
        ".".join(["a" * 63] * 4),
        "300.1.1.1",
        "192.0.2",
        "fe80::1%eth0",
        "пример.рф",
        "host/path",
    ],
)
def test_invalid_host_rejected(host):
    with pytest.raises(tls.InvalidHost, match="not a valid DNS name or IP address"):
        tls.validate_host(host)


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "protokol.test",
        "host-1.example.org",
        "*.example.org",
        "xn--e1afmkfd.xn--p1ai",
        f"{'a' * 63}.example.org",
        "192.0.2.10",
        "::1",
        "2001:db8::10",
    ],
)
def test_valid_host_accepted(host):
    tls.validate_host(host)
