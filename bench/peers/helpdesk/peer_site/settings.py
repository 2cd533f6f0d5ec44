"""A minimal Django site serving django-helpdesk's REST API on PostgreSQL.

Only what the benchmark needs: the helpdesk app, Django REST framework with
token authentication (a hashed-password check per request would be slower
than Protokol's bearer tokens and not a fair comparison) and the database
from HELPDESK_DATABASE_URL. E-mail goes to Django's dummy backend, because
Protokol queues its notifications for a separate worker.
"""

import os
from urllib.parse import urlsplit

SECRET_KEY = "benchmark-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "peer_site.urls"
USE_TZ = True
SITE_ID = 1

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "helpdesk",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

_url = urlsplit(os.environ["HELPDESK_DATABASE_URL"])
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _url.path.lstrip("/"),
        "USER": _url.username or "postgres",
        "HOST": _url.hostname,
        "PORT": _url.port or 5432,
        # A new connection per request, as Protokol configures its database.
        "CONN_MAX_AGE": 0,
    }
}
# The same psycopg pool that PROTOKOL_DATABASE_POOL turns on for Protokol.
if int(os.environ.get("HELPDESK_DATABASE_POOL", "0")):
    DATABASES["default"]["OPTIONS"] = {
        "pool": {
            "min_size": 1,
            "max_size": int(os.environ["HELPDESK_DATABASE_POOL"]),
            "timeout": 30,
        }
    }

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
    ],
}

EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
STATIC_URL = "/static/"
MEDIA_ROOT = os.environ.get("HELPDESK_MEDIA_ROOT", "/tmp/helpdesk-media")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
HELPDESK_API_ENABLED = True
# Teams come from the pinax-teams app, which the API does not need.
HELPDESK_TEAMS_MODE_ENABLED = False
