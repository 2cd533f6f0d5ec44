"""gunicorn with protokol.gunicorn_conf: forked workers serve pages and live streams.

The master imports the application before it forks, so the workers share its
memory copy-on-write. The tests read the processes' memory and open files
from /proc (Linux).
"""

import re
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from uvicorn_process import prepare_data_dir, serve

WORKERS = 2
# Seconds that a test waits for a stopping server. The workers cancel their
# responses 5 s before the --graceful-timeout that the test gives.
STOP_WAIT_SECONDS = 60


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("prefork-server")
    prepare_data_dir(directory)
    return directory


@pytest.fixture(scope="module")
def prefork_server(data_dir):
    options = ("--forwarded-allow-ips", "127.0.0.1")
    with serve(data_dir, prefork_workers=WORKERS, options=options) as server:
        yield server


def port_of(server) -> int:
    return urllib.parse.urlsplit(server.url).port


def child_pids(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def memory_kib(pid: int) -> dict[str, int]:
    """Return the fields of /proc/PID/smaps_rollup in KiB."""
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return {
        name: int(value)
        for name, value in re.findall(r"^(\w+):\s+(\d+) kB", rollup, re.M)
    }


def test_worker_serves_live_stream_and_page(prefork_server, load_bench):
    port = port_of(prefork_server)
    cookie = load_bench.page_session(port, "operator")

    stream = load_bench.open_stream(port, "/queue/events/", cookie)
    request = urllib.request.Request(
        prefork_server.url + "/queue/", headers={"Cookie": cookie}
    )
    with urllib.request.urlopen(request, timeout=30) as page:
        status = page.status
        body = page.read().decode()

    assert stream.getheader("Content-Type") == "text/event-stream"
    assert stream.readline() == b"retry: 1000\n"
    assert status == 200
    assert "/queue/events/" in body
    stream.close()


def test_workers_share_master_memory(prefork_server, load_bench):
    port = port_of(prefork_server)
    cookie = load_bench.page_session(port, "operator")
    stream = load_bench.open_stream(port, "/queue/events/", cookie)
    assert stream.readline() == b"retry: 1000\n"

    workers = child_pids(prefork_server.process.pid)

    assert len(workers) == WORKERS
    for worker in workers:
        memory = memory_kib(worker)
        # A worker's anonymous pages hold the Python heap. A worker that
        # imported the application itself would have all of them to itself.
        assert memory["Pss_Anon"] < 0.75 * memory["Anonymous"], (worker, memory)
        assert memory["Pss"] < 0.75 * memory["Rss"], (worker, memory)
    stream.close()


def test_master_holds_no_thread_or_database_file(prefork_server, data_dir):
    master = prefork_server.process.pid
    # The demo database and its -wal and -shm files.
    database = str(data_dir / "protokol.sqlite3")

    threads = list(Path(f"/proc/{master}/task").iterdir())
    open_files = [
        str(descriptor.readlink())
        for descriptor in Path(f"/proc/{master}/fd").iterdir()
    ]

    assert len(threads) == 1
    assert not [name for name in open_files if name.startswith(database)]


def test_forwarded_for_from_allowed_proxy_sets_client(prefork_server):
    # /metrics serves 127.0.0.1 only, so a 403 shows that the worker took the
    # client address from X-Forwarded-For.
    direct = urllib.request.urlopen(prefork_server.url + "/metrics", timeout=30)
    forwarded = urllib.request.Request(
        prefork_server.url + "/metrics",
        headers={"X-Forwarded-For": "203.0.113.7"},
    )

    with pytest.raises(urllib.error.HTTPError) as rejected:
        urllib.request.urlopen(forwarded, timeout=30)

    assert direct.status == 200
    assert rejected.value.code == 403
    direct.close()


def test_sigterm_stops_workers_with_open_stream(data_dir, load_bench):
    options = ("--graceful-timeout", "6")
    with serve(data_dir, prefork_workers=WORKERS, options=options) as server:
        port = port_of(server)
        stream = load_bench.open_stream(
            port, "/queue/events/", load_bench.page_session(port, "operator")
        )
        assert stream.readline() == b"retry: 1000\n"

        server.process.send_signal(signal.SIGTERM)
        try:
            returncode = server.process.wait(timeout=STOP_WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"gunicorn still runs after SIGTERM:\n{server.log()}")
        log = server.log()
        stream.close()

    assert returncode == 0, log
    assert log.count("Finished server process") == WORKERS, log
    assert "SIGKILL" not in log, log
