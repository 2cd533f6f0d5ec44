"""The ASGI entry point: a sync middleware chain that still serves async views."""

import asyncio

from asgiref.sync import iscoroutinefunction
from asgiref.testing import ApplicationCommunicator

from protokol.asgi import application


def _get(path: str) -> tuple[int, bytes]:
    """Send one GET through the ASGI application and return its status and body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }

    async def exchange():
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "http.request", "body": b""})
        start = await communicator.receive_output(10)
        body = await communicator.receive_output(10)
        await communicator.wait(10)
        return start["status"], body["body"]

    return asyncio.run(exchange())


def test_middleware_chain_is_sync():
    assert not iscoroutinefunction(application._middleware_chain)


def test_sync_view_responds():
    status, body = _get("/healthz")

    assert status == 200
    assert body


def test_async_view_responds():
    # The live-update stream is an async view, which returns 401 without a session.
    status, _ = _get("/consultations/1/events/")

    assert status == 401
