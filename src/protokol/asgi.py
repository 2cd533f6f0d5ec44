"""ASGI entry point for uvicorn."""

import os

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler


class SyncMiddlewareHandler(ASGIHandler):
    """Django's ASGI handler, running the middleware and the view on one thread.

    The stock handler builds its middleware chain for async. Most of our
    middleware is sync-only, so a request crossed between the event loop and
    a thread at each change of mode and around each hook of an async-capable
    middleware: ten hand-offs per request, counted with yappi. This handler
    makes three: the chain, and the request_started and request_finished
    signals. On a two-core machine a uvicorn worker then served 1.4 to 2.0
    times as many /healthz requests (docs/benchmarks.md). Async views, such as
    the live-update streams, still run on the event loop, because Django
    calls them through async_to_sync.
    """

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        # As in Django's own adapter, thread_sensitive keeps a request on one
        # thread, because the handler opens a ThreadSensitiveContext per request.
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "protokol.settings")
# As django.core.asgi.get_asgi_application does.
django.setup(set_prefix=False)
application = SyncMiddlewareHandler()
