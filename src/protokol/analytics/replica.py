"""Analytics reads from a read replica, when PROTOKOL_ANALYTICS_DATABASE_URL is set.

Requests to the analytics pages and API run inside `analytics_reads()`. There
the router sends reads of consultation data to the `analytics` database alias.
Everything else stays on the primary: writes, the journal entries that record
the access, and users, tokens and sessions, whose newest rows a lagging
replica may not have yet.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings

ANALYTICS_ALIAS = "analytics"
# Apps whose tables the analytics queries read. A replica lag of seconds only
# delays the newest consultations in the numbers.
REPLICA_APPS = frozenset({"consultations", "catalog", "protocols", "workflow"})
ANALYTICS_PATHS = ("/analytics/", "/api/v1/analytics/")

_analytics_reads: ContextVar[bool] = ContextVar("analytics_reads", default=False)


@contextmanager
def analytics_reads() -> Iterator[None]:
    """Send the block's reads of consultation data to the replica, if any."""
    token = _analytics_reads.set(True)
    try:
        yield
    finally:
        _analytics_reads.reset(token)


def replica_configured() -> bool:
    """Return whether the settings define the analytics database alias."""
    return ANALYTICS_ALIAS in settings.DATABASES


class AnalyticsRouter:
    """Database router: the replica for analytics reads, else the default."""

    def db_for_read(self, model, **hints):
        if (
            _analytics_reads.get()
            and model._meta.app_label in REPLICA_APPS
            and replica_configured()
        ):
            return ANALYTICS_ALIAS
        return None

    def allow_relation(self, obj1, obj2, **hints):
        # The replica contains the same rows as the primary.
        return True

    def allow_migrate(self, db, app_label, **hints):
        # Replication copies the schema, so migrations run on the primary only.
        return db != ANALYTICS_ALIAS


class AnalyticsReplicaMiddleware:
    """Middleware that runs analytics requests inside `analytics_reads()`."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(ANALYTICS_PATHS):
            return self.get_response(request)
        with analytics_reads():
            return self.get_response(request)
