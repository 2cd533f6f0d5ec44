"""gunicorn settings of the production web server.

Run as `gunicorn protokol.asgi:application -c python:protokol.gunicorn_conf`.

The master process imports the application once and forks the uvicorn
workers, so the workers share the imported modules copy-on-write instead of
each importing its own copy, as `uvicorn --workers` does.
"""

import gc

from uvicorn_worker import UvicornWorker

preload_app = True
worker_class = "protokol.gunicorn_conf.Worker"
# Seconds an idle keep-alive connection stays open: uvicorn's own default,
# where gunicorn's is 2.
keepalive = 5
# gunicorn's control socket is served by a thread in the master, at one path
# per user that several instances on one host would share.
control_socket_disable = True

# Seconds that a stopping worker leaves itself to close its responses and
# database connections between cancelling its last responses and the master's
# SIGKILL at graceful_timeout.
CLOSE_SECONDS = 5


class Worker(UvicornWorker):
    """uvicorn's gunicorn worker without the ASGI lifespan protocol, which Django lacks.

    On SIGTERM it stops accepting connections and lets running responses
    finish. Live-update streams last minutes, so it cancels what still runs
    CLOSE_SECONDS before the master would kill it.
    """

    CONFIG_KWARGS = {"loop": "auto", "http": "auto", "lifespan": "off"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.config.timeout_graceful_shutdown = max(
            1, self.cfg.graceful_timeout - CLOSE_SECONDS
        )


def when_ready(server) -> None:
    """Import the URLconfs and views that a worker would load on its first request."""
    from django.urls import get_resolver

    # Reading url_patterns imports the URLconfs and so every view module.
    get_resolver().url_patterns  # noqa: B018


def pre_fork(server, worker) -> None:
    # The collector writes to the header of every object it visits, which
    # would copy each page of the heap into each worker. Frozen objects are
    # never visited. Without the freeze, two workers under load took about as
    # much memory (PSS) as with uvicorn --workers 2 (docs/benchmarks.md).
    gc.collect()
    gc.freeze()
