"""Live-update streams served by uvicorn: headers at once, changes and presence."""

import json
import urllib.parse

import pytest

from uvicorn_process import prepare_data_dir, serve

# Lines to read before giving up on an event; keep-alives come every 15 s.
MAX_LINES = 40


@pytest.fixture(scope="module")
def stream_server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("live-server")
    prepare_data_dir(data_dir)
    with serve(data_dir) as server:
        yield urllib.parse.urlsplit(server.url).port


def next_event(stream, name: str):
    """Read `stream` until the event `name`; return its decoded data."""
    wanted = f"event: {name}\n".encode()
    for _ in range(MAX_LINES):
        line = stream.readline()
        if line == wanted:
            return json.loads(stream.readline().decode().removeprefix("data: "))
    raise AssertionError(f"no {name} event in {MAX_LINES} lines")


def test_stream_sends_headers_before_any_change(stream_server, load_bench):
    cookie = load_bench.page_session(stream_server, "operator")

    stream = load_bench.open_stream(stream_server, "/queue/events/", cookie)

    assert stream.getheader("Content-Type") == "text/event-stream"
    assert stream.readline() == b"retry: 1000\n"
    stream.close()


def test_stream_reports_new_message(stream_server, load_bench):
    consultation = load_bench.stream_consultation(stream_server)
    cookie = load_bench.page_session(stream_server, "operator")
    path = f"/consultations/{consultation}/events/"
    stream = load_bench.open_stream(stream_server, path, cookie)
    citizen = load_bench.Client(stream_server)
    citizen.login("citizen")

    citizen.call(
        "POST",
        f"/api/v1/consultations/{consultation}/messages",
        {"text": "Дополнение", "visibility": "public"},
        expect=201,
    )

    assert next_event(stream, "change")["index"] > 0
    stream.close()


def test_queue_stream_reports_new_consultation(stream_server, load_bench):
    cookie = load_bench.page_session(stream_server, "operator")
    stream = load_bench.open_stream(stream_server, "/queue/events/", cookie)

    load_bench.stream_consultation(stream_server)

    assert next_event(stream, "change")["index"] > 0
    stream.close()


def test_stream_names_other_staff_viewers(stream_server, load_bench):
    consultation = load_bench.stream_consultation(stream_server)
    path = f"/consultations/{consultation}/events/"
    operator = load_bench.open_stream(
        stream_server, path, load_bench.page_session(stream_server, "operator")
    )
    assert next_event(operator, "presence") == []

    supervisor = load_bench.open_stream(
        stream_server, path, load_bench.page_session(stream_server, "supervisor")
    )

    assert next_event(operator, "presence") == ["Светлана Соколова"]
    assert next_event(supervisor, "presence") == ["Ольга Смирнова"]
    supervisor.close()
    operator.close()
