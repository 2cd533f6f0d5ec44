"""Server-sent event streams that tell open pages when to refresh.

The process's live hub (workflow/live_hub.py) polls the journal for changes
(not reads) to what the page shows, and a stream sends `change` with the
entry index; the consultation stream also sends the names of the other staff
on the page. Streams end after a few minutes and the browser reconnects with
Last-Event-ID, so no change falls between two streams.

A stream keeps no database connection open: the view closes its request's
connections (or returns them to the pool) before the response starts,
because Django would keep them until the response ends.

NOTE: each open stream still keeps one idle thread, about 0.1 MiB of RSS
(bench/load_bench.py, docs/benchmarks.md). The handler in protokol/asgi.py
runs a request's middleware on a thread of its own that lives until the
response ends. The thread would go only with an async middleware chain,
which needs every middleware in MIDDLEWARE to support async.
"""

import asyncio
import json

import structlog
from asgiref.sync import sync_to_async
from django.db import connections
from django.http import HttpResponse, StreamingHttpResponse

from protokol.accounts.models import STAFF_ROLES
from protokol.consultations import services
from protokol.errors import NotFound
from protokol.workflow import live
from protokol.workflow.live_hub import STREAM_SECONDS, Subscription, hub

log = structlog.get_logger(__name__)

KEEPALIVE_SECONDS = 15


async def consultation_events(request, consultation_id: int):
    user = await request.auser()
    if not user.is_authenticated:
        return HttpResponse(status=401)
    try:
        await sync_to_async(services.get_visible)(user, consultation_id)
    except NotFound:
        return HttpResponse(status=404)

    subscription = Subscription(user, consultation_id)
    await hub.subscribe(subscription)
    try:
        current = await sync_to_async(live.last_change)(consultation_id)
    except BaseException:
        hub.unsubscribe(subscription)
        raise
    return await _start(request, subscription, current)


async def queue_events(request):
    user = await request.auser()
    if not user.is_authenticated:
        return HttpResponse(status=401)
    if user.role not in STAFF_ROLES:
        return HttpResponse(status=403)

    subscription = Subscription(user)
    await hub.subscribe(subscription)
    try:
        current = await sync_to_async(live.last_queue_change)(user)
    except BaseException:
        hub.unsubscribe(subscription)
        raise
    return await _start(request, subscription, current)


async def _start(request, subscription: Subscription, current: int):
    """Release the request's connections and return the stream's response.

    Without Last-Event-ID the page is as new as `current`; with it, a change
    after that id is sent at once.
    """
    last = _last_event_id(request)
    if last is None:
        last = current
    subscription.notify_change(current)
    await sync_to_async(_release_connections)()
    return _stream(_events(subscription, last))


def _release_connections() -> None:
    for connection in connections.all(initialized_only=True):
        # Test cases run inside a transaction that must stay open.
        if not connection.in_atomic_block:
            connection.close()


async def _events(subscription: Subscription, last: int):
    """Yield `change` and `presence` events as the hub reports them."""
    loop = asyncio.get_running_loop()
    ends = loop.time() + STREAM_SECONDS
    viewers = None
    try:
        yield "retry: 1000\n\n"
        while True:
            if subscription.index > last:
                last = subscription.index
                yield _event("change", {"index": last}, event_id=last)
            if subscription.viewers is not None and subscription.viewers != viewers:
                viewers = subscription.viewers
                yield _event("presence", viewers)

            remaining = ends - loop.time()
            if remaining <= 0:
                break
            if not await subscription.wait(min(KEEPALIVE_SECONDS, remaining)):
                yield ": idle\n\n"
    finally:
        hub.unsubscribe(subscription)


def _event(name: str, data, *, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _last_event_id(request) -> int | None:
    value = request.headers.get("Last-Event-ID", "")
    return int(value) if value.isdigit() else None


def _stream(events) -> StreamingHttpResponse:
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    # Reverse proxies such as nginx must pass each event on at once.
    response["X-Accel-Buffering"] = "no"
    return response
