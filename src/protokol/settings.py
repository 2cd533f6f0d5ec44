"""Django settings built from one typed configuration read from PROTOKOL_* variables."""

import re
import secrets
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

import dj_database_url
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from protokol.logging import configure_logging

PACKAGE_DIR = Path(__file__).resolve().parent
PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "demo"}


class Config(BaseSettings):
    """Installation settings; each field is read from PROTOKOL_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="PROTOKOL_", extra="ignore")

    demo: bool = False
    data_dir: Path = Path("var")
    database_url: str = ""
    secret_key: str = ""
    debug: bool = False
    allowed_hosts: list[str] = Field(default=["127.0.0.1", "localhost", "testserver"])
    log_json: bool = False
    log_level: str = "INFO"
    max_upload_bytes: int = 20 * 1024 * 1024
    max_text_chars: int = 20_000
    # Embed the citizen's attachments, decrypted, as PDF/A-3 associated files
    # of sealed copies, oldest first, skipping each one that would take their
    # total above copy_embed_max_bytes. The copy's table lists them all.
    copy_embed_attachments: bool = False
    copy_embed_max_bytes: int = 20 * 1024 * 1024
    # A PDF copy that would print more characters of text than this is
    # rejected with 413, because WeasyPrint keeps the whole laid-out copy in
    # memory.
    copy_max_text_chars: int = 1_000_000
    # A copy whose public messages and attachments take more bytes than this
    # is rendered by the task worker: the request gets 202 and a job URL.
    copy_background_bytes: int = 2 * 1024 * 1024
    token_ttl_hours: int = 24
    organisation_name: str = "Контакт-центр государственных услуг"
    # Public address of the site; QR codes on signed copies point to its /verify.
    public_url: str = "http://127.0.0.1:8000"
    # Origin line of the journal's signed checkpoints; also the signing key's name.
    journal_origin: str = "protokol.local/journal"
    # Ed25519 private key (PKCS#8 PEM) that signs checkpoints; in demo mode
    # generated at $PROTOKOL_DATA_DIR/journal_ed25519.pem when unset.
    journal_key_file: Path | None = None
    # Issue a checkpoint after every this many journal entries; 0 turns it off.
    journal_checkpoint_every: int = 1000
    # A checkpoint request issues a fresh one when the latest is older than
    # this many seconds and entries were added since; 0 turns it off.
    journal_checkpoint_seconds: int = 60
    # An actor denied this many times within the window raises one
    # security:alert entry per window; 0 turns alerts off.
    security_alert_denials: int = 5
    security_alert_window_seconds: int = 600
    # File of 32 random bytes, the master key that wraps each attachment's
    # AES-256-GCM data key; in demo mode generated at
    # $PROTOKOL_DATA_DIR/master.key (mode 0600) when unset.
    master_key_file: Path | None = None
    # Directory of the signing PKI (CA, seal, TSA and staff keys and
    # certificates). Demo mode uses $PROTOKOL_DATA_DIR/pki when it is unset.
    pki_dir: Path | None = None
    # Passphrase that encrypts the PKI's PKCS#8 private keys. Demo mode
    # generates it into <pki_dir>/passphrase with mode 0600 when it is empty.
    pki_passphrase: str = ""
    # Public URL of the revocation list, written into issued certificates.
    pki_crl_url: str = ""
    # URL of the OCSP responder, written into issued certificates as their
    # authority information access; empty means PROTOKOL_PUBLIC_URL/pki/ocsp.
    pki_ocsp_url: str = ""
    # Where the seal's and staff members' signing keys live: "software" (the
    # PKI directory's encrypted key files) or "pkcs11" (a PKCS#11 token).
    signer_backend: Literal["software", "pkcs11"] = "software"
    # PKCS#11 module (shared library) of the token, e.g. SoftHSM2's
    # /usr/lib/softhsm/libsofthsm2.so; used by the pkcs11 backend.
    pkcs11_module: Path | None = None
    # Label of the token that contains the signing keys.
    pkcs11_token: str = ""
    # User PIN of the token, or a file whose first line is the PIN.
    pkcs11_pin: str = ""
    pkcs11_pin_file: Path | None = None
    # TSA policy of issued timestamp tokens: a UUID-derived OID (ITU-T X.667)
    # unless the organisation has a registered one.
    tsa_policy_oid: str = "2.25.251034935084449270020691694625426301592"
    # Assignment of new consultations. "queue" leaves them unassigned until an
    # operator takes one. "round_robin" assigns each to the operator of its
    # department with the fewest open consultations.
    assignment: Literal["queue", "round_robin"] = "queue"
    # Code of the department that receives consultations that no active
    # routing rule matched, to forward them on; empty sends them to their
    # service's department.
    triage_department: str = ""
    # Serve the RFC 3161 timestamp endpoint over HTTP.
    tsa_http_enabled: bool = True
    # http(s) URL of the external RFC 3161 TSA from which
    # tsa_client.fetch_timestamp requests every timestamp; empty uses the
    # built-in TSA in-process.
    tsa_url: str = ""
    # PEM file of the CA certificates that the external TSA's certificate must
    # chain to; without it the token's signature and chain are not checked.
    tsa_ca_file: Path | None = None
    # Seconds to wait for the external TSA to connect and to respond.
    tsa_timeout_seconds: float = 10.0
    # Protokol is reached over HTTPS, served by `make run-tls` or behind a
    # TLS-terminating proxy: Secure cookies and HSTS.
    tls: bool = False
    # max-age of the Strict-Transport-Security header when `tls` is on.
    hsts_seconds: int = 3600
    # Request header by which a reverse proxy marks HTTPS requests, e.g.
    # X-Forwarded-Proto; empty trusts no such header.
    tls_proxy_header: str = ""
    # SMTP server of e-mail notifications, e.g. smtp://127.0.0.1:8025 or
    # smtps://user:password@host:465; empty sends no e-mail.
    email_url: str = ""
    email_from: str = "protokol@localhost"
    # Failed e-mails and webhook calls are retried after base × 2^(n-1)
    # seconds, n = failures so far, and dead after max_attempts failures.
    notify_retry_base_seconds: float = 30.0
    notify_max_attempts: int = 6
    allowed_upload_types: list[str] = Field(
        default=[
            "application/pdf",
            "image/jpeg",
            "image/png",
            "image/tiff",
            "text/plain",
            "application/msword",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.oasis.opendocument.text",
            "application/vnd.ms-excel",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ]
    )

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("tsa_url")
    @classmethod
    def _http_tsa_url(cls, value: str) -> str:
        value = value.strip()
        if value and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError(f"PROTOKOL_TSA_URL {value!r} is not an http or https URL")
        return value

    @field_validator("tsa_ca_file")
    @classmethod
    def _existing_tsa_ca_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.expanduser().is_file():
            raise ValueError(f"PROTOKOL_TSA_CA_FILE {value} is not a file")
        return value

    @field_validator("hsts_seconds")
    @classmethod
    def _non_negative_hsts(cls, value: int) -> int:
        if value < 0:
            raise ValueError("PROTOKOL_HSTS_SECONDS must be 0 or more")
        return value

    @field_validator("tls_proxy_header")
    @classmethod
    def _header_name(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"[A-Za-z0-9-]+", value):
            raise ValueError(
                f"PROTOKOL_TLS_PROXY_HEADER {value!r} is not an HTTP header name"
            )
        return value

    @field_validator("tsa_timeout_seconds")
    @classmethod
    def _positive_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("PROTOKOL_TSA_TIMEOUT_SECONDS must be positive")
        return value


def load_secret_key(config: Config) -> str:
    """Return the configured secret, or in demo mode one generated into the data dir."""
    if config.secret_key.strip() not in PLACEHOLDER_SECRETS:
        return config.secret_key
    if not config.demo:
        raise RuntimeError(
            "PROTOKOL_SECRET_KEY is missing or a placeholder: set it to a random "
            "string of at least 50 characters, or set PROTOKOL_DEMO=1 for a demo."
        )

    key_file = config.data_dir / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(64)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def security_settings(config: Config) -> dict:
    """Return the cookie, HSTS, redirect and proxy settings for how Protokol is served.

    Cookies are Secure outside demo mode and whenever `tls` is on. HSTS and
    the HTTPS redirect need `tls`. The redirect also needs a proxy header,
    because uvicorn serving TLS itself has no plain-HTTP port to redirect
    from, and behind a proxy that Django cannot detect, every request would
    look like HTTP and redirect forever.
    """
    secure_cookies = config.tls or (not config.demo and not config.debug)
    values = {
        "SESSION_COOKIE_SECURE": secure_cookies,
        "CSRF_COOKIE_SECURE": secure_cookies,
        "SECURE_HSTS_SECONDS": config.hsts_seconds if config.tls else 0,
        "SECURE_SSL_REDIRECT": config.tls and bool(config.tls_proxy_header),
        # Load balancers probe the health check over plain HTTP.
        "SECURE_REDIRECT_EXEMPT": [r"^healthz$"],
        "SECURE_PROXY_SSL_HEADER": None,
    }
    if config.tls_proxy_header:
        meta_name = "HTTP_" + config.tls_proxy_header.upper().replace("-", "_")
        values["SECURE_PROXY_SSL_HEADER"] = (meta_name, "https")
    return values


def email_settings(config: Config) -> dict:
    """Return Django's EMAIL_* settings for PROTOKOL_EMAIL_URL."""
    if not config.email_url:
        return {"EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend"}
    url = urlsplit(config.email_url)
    if url.scheme not in ("smtp", "smtps") or not url.hostname:
        raise RuntimeError(
            f"PROTOKOL_EMAIL_URL must look like smtp://host:port or "
            f"smtps://user:password@host:port, not {url.scheme or 'empty'}://..."
        )
    query = parse_qs(url.query)
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": url.hostname,
        "EMAIL_PORT": url.port or (465 if url.scheme == "smtps" else 25),
        "EMAIL_HOST_USER": unquote(url.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(url.password or ""),
        "EMAIL_USE_SSL": url.scheme == "smtps",
        "EMAIL_USE_TLS": query.get("starttls", ["0"])[0] == "1",
        "EMAIL_TIMEOUT": 10,
    }


def database_settings(config: Config) -> dict:
    """Return Django's DATABASES['default'] for the configured URL."""
    url = config.database_url or f"sqlite:///{config.data_dir / 'protokol.sqlite3'}"
    database = dj_database_url.parse(url, conn_max_age=0)

    if database["ENGINE"] == "django.db.backends.sqlite3":
        Path(database["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        # IMMEDIATE transactions take the write lock at BEGIN, so two writers
        # queue on busy_timeout instead of failing on a lock upgrade.
        database["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                "PRAGMA foreign_keys=ON;"
            ),
        }
        database["TEST"] = {"NAME": str(config.data_dir / "test.sqlite3")}
    return database


CONFIG = Config()

BASE_DIR = PACKAGE_DIR
DATA_DIR = CONFIG.data_dir
DEMO = CONFIG.demo
SECRET_KEY = load_secret_key(CONFIG)
DEBUG = CONFIG.debug
ALLOWED_HOSTS = CONFIG.allowed_hosts

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Serves the API docs' Swagger UI from the package instead of a CDN.
    "ninja",
    "protokol.accounts",
    "protokol.catalog",
    "protokol.journal",
    "protokol.consultations",
    "protokol.protocols",
    "protokol.documents",
    "protokol.imports",
    "protokol.signing",
    "protokol.workflow",
    "protokol.analytics",
    "protokol.security",
    "django_tasks",
    "django_tasks_db",
    "protokol.notifications",
    "protokol.web",
    "protokol.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "protokol.logging.RequestIdMiddleware",
    "protokol.security.context.ClientMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "protokol.urls"
ASGI_APPLICATION = "protokol.asgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": database_settings(CONFIG)}
# Background tasks live in the same database, so a task enqueued in
# transaction.on_commit exists exactly when the change that caused it does.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
globals().update(email_settings(CONFIG))
DEFAULT_FROM_EMAIL = CONFIG.email_from
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "ru"
LANGUAGES = [("ru", "Русский"), ("en", "English")]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "Europe/Moscow"

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
# WhiteNoise warns about a missing STATIC_ROOT even when it serves from finders.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Static files come straight from the packages, so no collectstatic step is needed.
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = DATA_DIR / "attachments"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 8 * 3600
SECURITY = security_settings(CONFIG)
SESSION_COOKIE_SECURE = SECURITY["SESSION_COOKIE_SECURE"]
CSRF_COOKIE_SECURE = SECURITY["CSRF_COOKIE_SECURE"]
SECURE_HSTS_SECONDS = SECURITY["SECURE_HSTS_SECONDS"]
SECURE_SSL_REDIRECT = SECURITY["SECURE_SSL_REDIRECT"]
SECURE_REDIRECT_EXEMPT = SECURITY["SECURE_REDIRECT_EXEMPT"]
SECURE_PROXY_SSL_HEADER = SECURITY["SECURE_PROXY_SSL_HEADER"]
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# Uploads above this size are rejected with 413 before they reach the service.
PROTOKOL_MAX_UPLOAD_BYTES = CONFIG.max_upload_bytes
DATA_UPLOAD_MAX_MEMORY_SIZE = CONFIG.max_upload_bytes + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

configure_logging(json_output=CONFIG.log_json, level=CONFIG.log_level)
LOGGING_CONFIG = None
