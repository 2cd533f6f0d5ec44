"""Server-sent event streams that tell open pages when to refresh.

A stream polls the journal twice a second for changes (not reads) to what
the page shows, and sends `change` with the entry index; the consultation
stream also refreshes the viewer's presence and sends the names of the
other staff on the page. Streams end after a few minutes and the browser
reconnects with Last-Event-ID, so no change falls between two streams.
"""

import asyncio
import json

import structlog
from asgiref.sync import sync_to_async
from django.http import HttpResponse, StreamingHttpResponse

from protokol.accounts.models import STAFF_ROLES
from protokol.consultations import services
from protokol.errors import NotFound
from protokol.workflow import live

log = structlog.get_logger(__name__)

POLL_SECONDS = 0.5
PRESENCE_SECONDS = 5
STREAM_SECONDS = 300


async def consultation_events(request, consultation_id: int):
    user = await request.auser()
    if not user.is_authenticated:
        return HttpResponse(status=401)
    try:
        await sync_to_async(services.get_visible)(user, consultation_id)
    except NotFound:
        return HttpResponse(status=404)

    last = _last_event_id(request)
    if last is None:
        last = await sync_to_async(live.last_change)(consultation_id)
    return _stream(_consultation_stream(user, consultation_id, last))


async def queue_events(request):
    user = await request.auser()
    if not user.is_authenticated:
        return HttpResponse(status=401)
    if user.role not in STAFF_ROLES:
        return HttpResponse(status=403)

    last = _last_event_id(request)
    if last is None:
        last = await sync_to_async(live.last_queue_change)(user)
    return _stream(_changes(lambda: live.last_queue_change(user), last))


async def _consultation_stream(user, consultation_id: int, last: int):
    loop = asyncio.get_running_loop()
    viewers = None
    next_presence = 0.0
    try:
        async for event in _changes(lambda: live.last_change(consultation_id), last):
            yield event
            if loop.time() < next_presence:
                continue
            next_presence = loop.time() + PRESENCE_SECONDS
            names = await sync_to_async(live.touch)(user, consultation_id)
            if names != viewers:
                viewers = names
                yield _event("presence", names)
    finally:
        await sync_to_async(live.leave)(user, consultation_id)


async def _changes(latest, last: int):
    """Yield `change` events whenever `latest()` grows, and a keep-alive otherwise."""
    loop = asyncio.get_running_loop()
    ends = loop.time() + STREAM_SECONDS
    yield "retry: 1000\n\n"
    while loop.time() < ends:
        current = await sync_to_async(latest)()
        if current > last:
            last = current
            yield _event("change", {"index": current}, event_id=current)
        else:
            yield ": idle\n\n"
        await asyncio.sleep(POLL_SECONDS)


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
