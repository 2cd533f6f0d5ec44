"""Fixtures shared by the whole suite: demo data made through the real services."""

import secrets
from pathlib import Path

import pytest
import structlog
from django.conf import settings as django_settings
from django.db import connection
from django.utils import translation

from protokol.accounts.models import User
from protokol.consultations import services
from protokol.signing import pki


@pytest.fixture(scope="session", autouse=True)
def _test_database_released(django_db_setup, django_db_blocker):
    """End other sessions on the PostgreSQL test database before it is dropped.

    A subprocess that was just stopped can keep its backend for a moment,
    and DROP DATABASE fails while any session remains. The sessions ended
    here are logged, so a connection that leaks for longer shows up.
    """
    yield
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid, application_name, state, left(query, 80),"
                " pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            for pid, application, state, query, _ in cursor.fetchall():
                structlog.get_logger(__name__).warning(
                    "test_database_session_ended",
                    pid=pid,
                    application=application,
                    state=state,
                    query=query,
                )
        connection.close()


@pytest.fixture(autouse=True)
def _attachments_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "attachments"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Argon2 takes about 150 ms per demo account; tests that check the
    # production hasher read protokol.settings directly.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# The settings that `pki_dir` replaces for the rest of the run, with their
# earlier values. `_session_pki_only_where_requested` restores them for tests
# that do not request `pki_dir`.
REPLACED_SETTINGS: dict[str, object] = {}


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory) -> Path:
    """Initialise a PKI with a reviewer certificate and point the settings at it.

    There is one PKI per run, because RSA key generation takes about a second
    a key. Importing this fixture into a folder's conftest would define it
    again, with a second PKI that repoints the settings while servers started
    with the first one still use the first.
    """
    from signing.conftest import REVIEWER

    directory = tmp_path_factory.mktemp("pki")
    REPLACED_SETTINGS.update(
        pki_dir=django_settings.CONFIG.pki_dir, demo=django_settings.CONFIG.demo
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(django_settings.CONFIG, "pki_dir", directory)
        patch.setattr(django_settings.CONFIG, "demo", True)
        pki.init_pki()
        pki.issue_user_certificate(REVIEWER)
        yield directory


@pytest.fixture(autouse=True)
def _session_pki_only_where_requested(request, monkeypatch):
    """Give tests that do not request `pki_dir` the configured PKI, not the session's.

    The session fixture `pki_dir` points settings.CONFIG at its PKI until
    the run ends. Without this, every later test signed with that PKI and
    its reviewer certificate, so a signed protocol got an extra reviewer
    signature and a copy-job worker looked for the PKI elsewhere, depending
    on test order.
    """
    if "pki_dir" in request.fixturenames:
        return
    for name, value in REPLACED_SETTINGS.items():
        monkeypatch.setattr(django_settings.CONFIG, name, value)


@pytest.fixture(autouse=True)
def _default_language_after_test():
    # LocaleMiddleware activates the request's language for the whole thread and
    # never deactivates it, so an English request would leak into later tests.
    yield
    translation.deactivate()


@pytest.fixture
def english():
    """Run the test in English, for assertions on the English messages."""
    with translation.override("en"):
        yield


@pytest.fixture
def english_pages(settings, english):
    """Serve pages and the API in English too, for requests without a language.

    They pick their language per request and fall back to LANGUAGE_CODE.
    """
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def russian_catalog():
    """Return a function that gives a message a Russian text for this test.

    The text replaces a .po entry that is not compiled yet, so a test can
    tell a translated message from an untranslated one. A message that has
    a translation keeps it.
    """
    from django.utils.translation import trans_real

    catalog = trans_real.translation("ru")._catalog
    added = []

    def translate(message: str, text: str) -> str:
        if message not in catalog:
            catalog[message] = text
            added.append(message)
        with translation.override("ru"):
            return translation.gettext(message)

    yield translate
    for message in added:
        catalog._catalogs[0].pop(message, None)


@pytest.fixture
def demo(db):
    """Seed the demo departments, services and accounts; return users by name."""
    from protokol.accounts.demo import seed_demo

    seed_demo()
    return {user.username: user for user in User.objects.all()}


@pytest.fixture
def master_key_file(settings, tmp_path, monkeypatch):
    """Point the settings at a fresh random master key, mode 0600."""
    path = tmp_path / "master.key"
    path.write_bytes(secrets.token_bytes(32))
    path.chmod(0o600)
    monkeypatch.setattr(settings.CONFIG, "master_key_file", path)
    return path


@pytest.fixture
def consultation(demo):
    """A fresh consultation of the demo citizen in department A."""
    return services.create_consultation(
        demo["citizen"],
        service_code="GEN",
        subject="Пособие на ребёнка",
        description="Какие документы нужны для оформления пособия?",
    )


@pytest.fixture
def api_client(client):
    """A Django test client that logs in to the API by token."""

    class ApiClient:
        def __init__(self):
            self.headers = {}

        def login(self, username, password="demo"):
            response = client.post(
                "/api/v1/auth/token",
                {"username": username, "password": password},
                content_type="application/json",
            )
            assert response.status_code == 200, response.content
            self.headers = {"HTTP_AUTHORIZATION": f"Bearer {response.json()['token']}"}
            return self

        def get(self, path, **extra):
            return client.get(path, **self.headers, **extra)

        def post(self, path, data=None, **extra):
            if "content_type" not in extra and not isinstance(data, dict | None):
                extra["content_type"] = "application/json"
            if isinstance(data, dict) and "file" not in data:
                extra.setdefault("content_type", "application/json")
            return client.post(path, data, **self.headers, **extra)

        def put(self, path, data=None, **extra):
            extra.setdefault("content_type", "application/json")
            return client.put(path, data, **self.headers, **extra)

    return ApiClient()
