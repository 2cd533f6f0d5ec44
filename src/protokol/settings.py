"""Django settings built from one typed configuration read from PROTOKOL_* variables."""

import ipaddress
import re
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

import dj_database_url
from csp import constants as csp_constants
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from protokol.logging import configure_logging

PACKAGE_DIR = Path(__file__).resolve().parent
PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "demo"}


# The smallest allowed value of numeric settings that need no other check.
MINIMUMS = {
    "hsts_seconds": 0,
    "notify_retry_base_seconds": 0,
    "notify_max_attempts": 1,
    "backup_keep": 1,
    "task_stale_seconds": 0,
    "copy_job_keep_seconds": 1,
}


class Config(BaseSettings):
    """Installation settings; each field is read from PROTOKOL_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="PROTOKOL_", extra="ignore")

    demo: bool = False
    # Set by the console script for `protokol verify FILE` without --export or
    # --online: a check of a file reads no database, secret or data directory.
    offline: bool = False
    data_dir: Path = Path("var")
    database_url: str = ""
    # PostgreSQL only: keep up to this many connections per process in a
    # psycopg pool instead of connecting for every request; 0 turns it off.
    database_pool: int = 0
    # PostgreSQL read replica for the analytics pages and API; empty reads
    # them from the primary.
    analytics_database_url: str = ""
    secret_key: str = ""
    debug: bool = False
    allowed_hosts: list[str] = Field(default=["127.0.0.1", "localhost", "testserver"])
    log_json: bool = False
    log_level: str = "INFO"
    # Clients allowed to read /metrics: addresses or networks (CIDR) compared
    # with REMOTE_ADDR, and a bearer token that any address may present.
    metrics_allowed_ips: list[str] = Field(default=["127.0.0.1", "::1"])
    metrics_token: str = ""
    max_upload_bytes: int = 20 * 1024 * 1024
    # S3-compatible object storage for attachments; an empty bucket keeps
    # them as files under data_dir/attachments. Credentials may also come from the
    # usual AWS_* variables or an instance role, as boto3 looks them up.
    s3_bucket: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
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
    # Seconds that the file of a finished copy job is kept for download. The
    # worker then deletes it, and the job URL returns 410.
    copy_job_keep_seconds: int = 86400
    # Sealed copies in the cache under data_dir/copies: an entry not read for
    # this many seconds is deleted, and above this many bytes in all the least
    # recently read ones are deleted first; 0 turns a limit off.
    copy_cache_max_age_seconds: int = 30 * 86400
    copy_cache_max_bytes: int = 1024 * 1024 * 1024
    token_ttl_hours: int = 24
    # Failed password sign-ins of one user name from one address before
    # django-axes locks that pair out, and the lockout's length in minutes.
    login_failure_limit: int = 5
    login_lockout_minutes: int = 15
    # Citizens' OpenID provider: its issuer identifier, the discovery document
    # (empty means <issuer>/.well-known/openid-configuration) and this
    # installation's client. An empty issuer hides the sign-in button.
    oidc_issuer: str = ""
    oidc_discovery_url: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_scope: str = "openid profile snils"
    # Claims that carry the SNILS and whether the provider verified the
    # person's identity (true/false).
    oidc_snils_claim: str = "snils"
    oidc_verified_claim: str = "verified"
    # The organisation's OpenID provider for staff, a second client.
    oidc_staff_issuer: str = ""
    oidc_staff_discovery_url: str = ""
    oidc_staff_client_id: str = ""
    oidc_staff_client_secret: str = ""
    oidc_staff_scope: str = "openid profile staff"
    # Claim with the staff member's role (operator, reviewer, supervisor,
    # auditor, admin) and claim with the list of department codes ("*" for
    # every department).
    oidc_staff_role_claim: str = "protokol_role"
    oidc_staff_departments_claim: str = "protokol_departments"
    # ESIA (Госуслуги): base URL of its endpoints, issuer of its ID tokens, this
    # installation's client (мнемоника), the scopes asked and the PEM
    # certificate whose key signs ESIA's ID tokens (RS256). The client secret
    # is a detached CMS signature made with the organisation seal.
    esia_url: str = ""
    esia_issuer: str = "http://esia.gosuslugi.ru/"
    esia_client_id: str = ""
    esia_scope: str = "openid fullname snils"
    esia_certificate_file: Path | None = None
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
    # Passphrase that encrypts backups (scrypt-derived key); empty derives the
    # backup key from the master key instead.
    backup_passphrase: str = ""
    # Directory of the worker's scheduled backups; unset schedules none.
    backup_dir: Path | None = None
    # Scheduled backups kept in backup_dir; older ones are deleted.
    backup_keep: int = 7
    # Seconds between the starts of two scheduled backups.
    backup_interval_seconds: float = 86400.0
    # Seconds between two runs of the scheduled retention task
    # (`protokol retention schedule`); 0 runs it once.
    retention_every_seconds: int = 86400
    # `protokol worker` requeues a task that has been RUNNING for longer than
    # this many seconds, whichever worker claimed it; 0 turns the rule off.
    # Keep it above the longest task, such as a backup.
    task_stale_seconds: int = 21600
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

    @field_validator("metrics_allowed_ips")
    @classmethod
    def _ip_networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"PROTOKOL_METRICS_ALLOWED_IPS: {item!r} is not an IP address "
                    "or network such as 10.0.0.0/8"
                ) from None
        return value

    @property
    def metrics_allowed_networks(self) -> list:
        return [
            ipaddress.ip_network(item, strict=False)
            for item in self.metrics_allowed_ips
        ]

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

    @field_validator(*MINIMUMS)
    @classmethod
    def _at_least_minimum(cls, value, info):
        minimum = MINIMUMS[info.field_name]
        if value < minimum:
            name = f"PROTOKOL_{info.field_name.upper()}"
            raise ValueError(f"{name} must be {minimum} or more")
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

    @field_validator("backup_interval_seconds")
    @classmethod
    def _positive_interval(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("PROTOKOL_BACKUP_INTERVAL_SECONDS must be positive")
        return value

    @field_validator("copy_cache_max_age_seconds", "copy_cache_max_bytes")
    @classmethod
    def _non_negative_cache_limit(cls, value: int, info) -> int:
        if value < 0:
            name = f"PROTOKOL_{info.field_name.upper()}"
            raise ValueError(f"{name} must be 0 (no limit) or more")
        return value

    @field_validator("tsa_timeout_seconds")
    @classmethod
    def _positive_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("PROTOKOL_TSA_TIMEOUT_SECONDS must be positive")
        return value


def load_secret_key(config: Config) -> str:
    """Return the configured secret, or in demo mode one generated into the data dir.

    An offline check signs nothing, so it gets a secret that lives as long as
    its process.
    """
    if config.secret_key.strip() not in PLACEHOLDER_SECRETS:
        return config.secret_key
    if config.offline:
        return secrets.token_urlsafe(64)
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
        # Load balancers probe the health check, and Prometheus scrapes the
        # metrics, over plain HTTP straight from the internal network.
        "SECURE_REDIRECT_EXEMPT": [r"^healthz$", r"^metrics$"],
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
        if not config.offline:
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
    else:
        # Compiling a statistics query over many consultations with JIT took
        # seconds, longer than running it, so JIT is off for every query.
        # Parameters bound on the server let psycopg prepare a statement that a
        # connection has run five times: planning the consultation lookup took
        # 0.9 ms, six times its execution. A pooler in transaction mode would
        # lose the prepared statements (docs/deployment.md).
        database["OPTIONS"] = {
            "options": "-c jit=off",
            "server_side_binding": True,
            "prepare_threshold": 5,
        }
        if config.database_pool:
            database["OPTIONS"]["pool"] = {
                "min_size": 1,
                "max_size": config.database_pool,
                "timeout": 30,
            }
    return database


def load_config() -> Config:
    """Read Config from the environment, naming each invalid variable.

    Raises:
        RuntimeError: a PROTOKOL_* value is invalid. The message names every
            such variable and leaves out pydantic's copy of the input, which
            may be a secret.
    """
    try:
        return Config()
    except ValidationError as error:
        problems = []
        for detail in error.errors():
            name = f"PROTOKOL_{str(detail['loc'][0]).upper()}"
            cause = detail.get("ctx", {}).get("error")
            message = str(cause) if cause is not None else detail["msg"]
            problems.append(message if name in message else f"{name}: {message}")
        raise RuntimeError("; ".join(problems)) from None
    except SettingsError as error:
        # pydantic-settings raises this for a list or dict that is not JSON.
        field = re.search(r'field "(\w+)"', str(error))
        name = f"PROTOKOL_{field.group(1).upper()}" if field else "a PROTOKOL_ value"
        raise RuntimeError(
            f"{name} is not valid JSON; write a list such as "
            '["127.0.0.1"] or leave it unset.'
        ) from None


CONFIG = load_config()

BASE_DIR = PACKAGE_DIR
DATA_DIR = CONFIG.data_dir
DEMO = CONFIG.demo
SECRET_KEY = load_secret_key(CONFIG)
DEBUG = CONFIG.debug
ALLOWED_HOSTS = CONFIG.allowed_hosts

INSTALLED_APPS = [
    # Configuration pages of routing, calendars, targets and templates
    # (workflow/admin.py), for administrators and supervisors.
    "django.contrib.admin.apps.SimpleAdminConfig",
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
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "protokol.search",
    "protokol.scale",
    "protokol.monitoring",
    "django_prometheus",
    "protokol.retention",
    "django_tasks",
    "django_tasks_db",
    "protokol.jobs",
    "protokol.notifications",
    "protokol.backups",
    "protokol.profiles",
    "protokol.disputes",
    "protokol.web",
    "protokol.api",
]

MIDDLEWARE = [
    # Outermost, so the request counts and latencies cover every middleware.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "protokol.logging.RequestIdMiddleware",
    "protokol.security.context.ClientMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "protokol.accounts.second_factor.SecondFactorMiddleware",
    "protokol.security.middleware.DenialMiddleware",
    "protokol.api.middleware.MethodNotAllowedMiddleware",
    "protokol.api.middleware.UnstorableTextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "protokol.analytics.replica.AnalyticsReplicaMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes requires: turns a locked-out attempt into a 429
    # response from AXES_LOCKOUT_CALLABLE.
    "axes.middleware.AxesMiddleware",
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
if CONFIG.analytics_database_url:
    DATABASES["analytics"] = {
        **database_settings(
            CONFIG.model_copy(update={"database_url": CONFIG.analytics_database_url})
        ),
        # Tests read the replica's rows from the primary's test database.
        "TEST": {"MIRROR": "default"},
    }
DATABASE_ROUTERS = ["protokol.analytics.replica.AnalyticsRouter"]


def storage_settings(config: Config) -> dict:
    """Return Django's STORAGES: local files, or S3 when a bucket is set."""
    static = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    if not config.s3_bucket:
        local = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
        return {"default": local, "staticfiles": static}

    options = {
        "bucket_name": config.s3_bucket,
        # Attachments are encrypted before upload and served only through
        # the application, so objects stay private and keys never collide.
        "default_acl": "private",
        "file_overwrite": False,
        "querystring_auth": True,
    }
    if config.s3_endpoint_url:
        options["endpoint_url"] = config.s3_endpoint_url
    if config.s3_region:
        options["region_name"] = config.s3_region
    if config.s3_access_key:
        options["access_key"] = config.s3_access_key
        options["secret_key"] = config.s3_secret_key
    s3 = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}
    return {"default": s3, "staticfiles": static}


STORAGES = storage_settings(CONFIG)
# Background tasks live in the same database, so a task enqueued inside the
# transaction of the change that causes it commits or rolls back with it.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
globals().update(email_settings(CONFIG))
DEFAULT_FROM_EMAIL = CONFIG.email_from
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # First: rejects a locked-out user name and address before any password
    # check. It raises ValueError when authenticate() gets no request, so no
    # password check can skip the failure count.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = CONFIG.login_failure_limit
AXES_COOLOFF_TIME = timedelta(minutes=CONFIG.login_lockout_minutes)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Each attempt during a lockout counts as a failure and starts the cool-off
# again, so the API's Retry-After is the whole cool-off.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True
AXES_LOCKOUT_CALLABLE = "protokol.accounts.lockout.lockout_response"
AXES_VERBOSE = False
# Staff must confirm a TOTP code after signing in, except in demo mode.
STAFF_OTP_REQUIRED = not DEMO
OTP_TOTP_ISSUER = CONFIG.organisation_name

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
if not CONFIG.offline:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Static files come straight from the packages, so no collectstatic step is needed.
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = DATA_DIR / "attachments"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 8 * 3600
SECURITY = security_settings(CONFIG)
SESSION_COOKIE_SECURE = SECURITY["SESSION_COOKIE_SECURE"]
CSRF_COOKIE_SECURE = SECURITY["CSRF_COOKIE_SECURE"]
CSRF_FAILURE_VIEW = "protokol.web.views.csrf_failure"
SECURE_HSTS_SECONDS = SECURITY["SECURE_HSTS_SECONDS"]
SECURE_SSL_REDIRECT = SECURITY["SECURE_SSL_REDIRECT"]
SECURE_REDIRECT_EXEMPT = SECURITY["SECURE_REDIRECT_EXEMPT"]
SECURE_PROXY_SSL_HEADER = SECURITY["SECURE_PROXY_SSL_HEADER"]
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# Content-Security-Policy of every response that sets none itself (downloads
# set "default-src 'none'; sandbox"). Scripts and styles come only from this
# origin's static files: no inline script, style element or style attribute.
# data: images are the Swagger UI's icons at /api/v1/docs.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp_constants.SELF],
        "script-src": [csp_constants.SELF],
        "style-src": [csp_constants.SELF],
        "img-src": [csp_constants.SELF, "data:"],
        "font-src": [csp_constants.SELF],
        "connect-src": [csp_constants.SELF],
        "object-src": [csp_constants.NONE],
        "base-uri": [csp_constants.NONE],
        "form-action": [csp_constants.SELF],
        "frame-ancestors": [csp_constants.NONE],
    }
}

# Uploads above this size are rejected with 413 before they reach the service.
PROTOKOL_MAX_UPLOAD_BYTES = CONFIG.max_upload_bytes
DATA_UPLOAD_MAX_MEMORY_SIZE = CONFIG.max_upload_bytes + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

configure_logging(json_output=CONFIG.log_json, level=CONFIG.log_level)
LOGGING_CONFIG = None
