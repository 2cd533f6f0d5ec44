"""The demo server with the uvicorn options of `make run` and `make run-tls`."""

import http.client
import shlex
import subprocess
from pathlib import Path

import pytest

from uvicorn_process import prepare_data_dir, serve

ROOT = Path(__file__).resolve().parents[2]
# An address from the documentation range (RFC 5737), which /metrics refuses.
FORWARDED = {"X-Forwarded-For": "203.0.113.9"}


def make_serve_line(target: str) -> str:
    """Return the shell line of `make TARGET` that starts uvicorn, as make prints it."""
    result = subprocess.run(
        ["make", "-n", target, "HOST=127.0.0.1", "PORT=8123"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    recipe = result.stdout.replace("\\\n", " ")
    return next(line for line in recipe.splitlines() if "protokol.asgi:app" in line)


def make_uvicorn_options(target: str) -> tuple[str, ...]:
    """Return the uvicorn options that `make TARGET` passes, without host and port."""
    line = make_serve_line(target)
    words = shlex.split(line)
    options = words[words.index("protokol.asgi:application") + 1 :]
    for name in ("--host", "--port", "--lifespan"):
        at = options.index(name)
        del options[at : at + 2]
    return tuple(options)


def metrics_status(url: str) -> int:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("GET", "/metrics", headers=FORWARDED)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("demo-server")
    prepare_data_dir(directory)
    return directory


@pytest.mark.parametrize("target", ["run", "run-tls"])
def test_make_targets_ignore_proxy_headers(target):
    assert "--no-proxy-headers" in make_uvicorn_options(target)


@pytest.mark.parametrize("target", ["run", "run-tls"])
def test_make_targets_start_worker(target):
    line = make_serve_line(target)

    assert "protokol worker &" in line
    assert "PROTOKOL_PUBLIC_URL=http" in line.split("protokol worker")[0]


def test_forwarded_header_does_not_change_the_address(data_dir):
    with serve(data_dir, options=make_uvicorn_options("run")) as server:
        assert metrics_status(server.url) == 200


def test_uvicorn_default_takes_the_forwarded_address(data_dir):
    # Without the option a local client could pass for any address. /metrics
    # serves 127.0.0.1 only, so it refuses the forwarded one.
    with serve(data_dir) as server:
        assert metrics_status(server.url) == 403
