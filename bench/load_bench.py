"""Load tests: citizens arriving at a fixed rate, or a fixed number of users.

A session creates a consultation, adds messages, lists its consultations and
reads the one it created, as the demo citizen over the HTTP API. Sessions
start on a fixed schedule whether or not earlier ones have finished, so a
server that falls behind shows it in latency and in the achieved rate rather
than slowing the generator down. Runs on PostgreSQL with uvicorn workers, like
the production deployment in docs/deployment.md, scaled down to one machine.

With --users, a closed loop instead: that many users, half citizens and half
operators, repeat a mix of list, detail, search and write requests for the
given time: citizens add messages to their consultations and open new ones,
operators reply. Meanwhile --sse clients keep live-update streams open, half
on the queue page and half on a consultation page. The server's memory,
summed RSS and summed PSS of its processes, is read at the end, while the
streams are still open.
"""

import argparse
import http.client
import http.cookiejar
import os
import random
import re
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from record import machine, write_result
from run import (
    Client,
    fresh_environment,
    postgres_available,
    server,
)

USERNAMES = ("citizen", "operator")
NEW_CONSULTATION = {
    "service": "GEN",
    "subject": "Перерасчёт платы за отопление",
    "description": "Прошу пояснить порядок перерасчёта.",
}
# A loaded machine can take tens of seconds per request; the run reports
# latency and fails only on errors, so the client waits this long.
REQUEST_TIMEOUT_SECONDS = 300
# uvicorn's default --timeout-keep-alive is 5 s. A loaded server's loop can
# run its timer late, so clients drop connections idle for far less.
IDLE_CLOSE_SECONDS = 1


def session(port: int, messages: int, latencies: list, errors: list) -> None:
    """Run one citizen's visit and record each request's latency in seconds."""
    client = Client(port)

    def timed(method, path, body=None, expect=200):
        started = time.perf_counter()
        try:
            return client.call(method, path, body, expect=expect)
        except (RuntimeError, OSError) as error:
            errors.append(f"{method} {path}: {error}")
            return None
        finally:
            latencies.append(time.perf_counter() - started)

    token = timed(
        "POST", "/api/v1/auth/token", {"username": "citizen", "password": "demo"}
    )
    if token is None:
        return
    client.headers["Authorization"] = f"Bearer {token['token']}"
    created = timed(
        "POST",
        "/api/v1/consultations",
        NEW_CONSULTATION,
        expect=201,
    )
    if created is None:
        return
    for number in range(messages):
        timed(
            "POST",
            f"/api/v1/consultations/{created['id']}/messages",
            {"text": f"Дополнение {number}", "visibility": "public"},
            expect=201,
        )
    timed("GET", "/api/v1/consultations?limit=20")
    timed("GET", f"/api/v1/consultations/{created['id']}")


def user_loop(
    port: int,
    number: int,
    tokens: dict[str, str],
    arrival: float,
    until: float,
    think: float,
    latencies,
    errors,
) -> None:
    """From `arrival`, repeat a realistic mix of requests until `until`.

    Even numbers are the demo citizen, odd ones the demo operator, both
    signed in already with the bearer tokens in `tokens`: the run measures
    people at work, and one request in a hundred is a fresh sign-in. Before
    each request the user pauses for a random 0 to 2 × `think` seconds.
    """
    username = USERNAMES[number % 2]
    client = Client(port)
    client.connection.timeout = REQUEST_TIMEOUT_SECONDS
    client.headers["Authorization"] = f"Bearer {tokens[username]}"
    chooser = random.Random(number)
    citizen = username.startswith("citizen")
    mine: list[int] = []

    def timed(method, path, body=None, expect=200):
        started = time.perf_counter()
        try:
            return client.call(method, path, body, expect=expect)
        except (RuntimeError, OSError) as error:
            errors.append(f"{method} {path}: {error}")
            client.connection.close()
            return None
        finally:
            latencies.append(time.perf_counter() - started)

    time.sleep(max(0.0, arrival - time.perf_counter()))
    while time.perf_counter() < until:
        pause = chooser.uniform(0, 2 * think)
        if pause >= IDLE_CLOSE_SECONDS:
            # The server may close an idle connection first; a browser would
            # open a new one, not send on the closed one.
            client.connection.close()
        time.sleep(pause)
        draw = chooser.random()
        if draw < 0.01:
            body = {"username": username, "password": "demo"}
            timed("POST", "/api/v1/auth/token", body)
        elif draw < 0.45:
            listed = timed("GET", "/api/v1/consultations?limit=20")
            if listed:
                mine = [item["id"] for item in listed["items"]][:20] or mine
        elif draw < 0.75 and mine:
            timed("GET", f"/api/v1/consultations/{chooser.choice(mine)}")
        elif draw < 0.85:
            query = urllib.parse.quote("отопление")
            timed("GET", f"/api/v1/consultations?q={query}&limit=20")
        elif citizen and draw < 0.95 and mine:
            timed(
                "POST",
                f"/api/v1/consultations/{chooser.choice(mine)}/messages",
                {
                    "text": "Дополняю обращение: квитанция за март.",
                    "visibility": "public",
                },
                expect=201,
            )
        elif citizen:
            created = timed(
                "POST", "/api/v1/consultations", NEW_CONSULTATION, expect=201
            )
            if created:
                mine.insert(0, created["id"])
        elif mine:
            timed(
                "POST",
                f"/api/v1/consultations/{chooser.choice(mine)}/messages",
                {"text": "Уточните, пожалуйста, период.", "visibility": "public"},
                expect=201,
            )


def open_streams(port: int, count: int) -> tuple[list, list[float]]:
    """Open `count` live streams, alternating queue and consultation pages.

    Signs in to the web pages as the operator. Returns the open responses and
    the seconds each waited for its response headers.
    """
    cookie = page_session(port, "operator")
    consultation = stream_consultation(port)

    streams = []
    header_seconds = []
    for number in range(count):
        path = "/queue/events/"
        if number % 2:
            path = f"/consultations/{consultation}/events/"
        started = time.perf_counter()
        response = open_stream(port, path, cookie)
        header_seconds.append(time.perf_counter() - started)
        streams.append(response)
    return streams, header_seconds


def page_session(port: int, username: str) -> str:
    """Sign in to the web pages as `username`; return the Cookie header value."""
    base = f"http://127.0.0.1:{port}"
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/login/").read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = {"username": username, "password": "demo", "csrfmiddlewaretoken": csrf}
    opener.open(
        urllib.request.Request(
            base + "/login/",
            data=urllib.parse.urlencode(form).encode(),
            headers={"Referer": base + "/login/"},
        )
    ).read()
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def open_stream(port: int, path: str, cookie: str) -> http.client.HTTPResponse:
    """GET the event stream at `path`; return the response once headers arrive."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=REQUEST_TIMEOUT_SECONDS
    )
    connection.request("GET", path, headers={"Cookie": cookie})
    response = connection.getresponse()
    if response.status != 200:
        raise RuntimeError(f"GET {path}: {response.status}")
    return response


def stream_consultation(port: int) -> int:
    """Create a consultation as the citizen; return its id for the page streams."""
    client = Client(port)
    client.login("citizen")
    created = client.call(
        "POST",
        "/api/v1/consultations",
        NEW_CONSULTATION,
        expect=201,
    )
    client.connection.close()
    return created["id"]


def server_memory(port: int) -> dict[str, float]:
    """Return the memory of the server on `port`: its main process and children.

    rss_mib sums the processes' resident set sizes, which count a page that
    several processes share once in each of them, as forked workers do with
    the pages they inherited. pss_mib sums their proportional set sizes from
    /proc/PID/smaps_rollup, which split each shared page among the processes
    that map it, so that the sum counts it once.
    """
    processes = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            parent = int(re.search(r"PPid:\s+(\d+)", status).group(1))
            processes[int(entry.name)] = (parent, command)

    # gunicorn's forked workers keep the master's command line, so the main
    # process is the one whose parent does not run the server too.
    servers = {
        pid
        for pid, (_, command) in processes.items()
        if is_server_command(command, port)
    }
    main_pid = next(pid for pid in servers if processes[pid][0] not in servers)
    pids = [
        pid
        for pid, (parent, _) in processes.items()
        if pid == main_pid or parent == main_pid
    ]
    rss_kib = pss_kib = 0
    for pid in pids:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        rss_kib += int(re.search(r"^Rss:\s+(\d+) kB", rollup, re.M).group(1))
        pss_kib += int(re.search(r"^Pss:\s+(\d+) kB", rollup, re.M).group(1))
    return {
        "rss_mib": rss_kib / 1024,
        "pss_mib": pss_kib / 1024,
        "processes": len(pids),
    }


def is_server_command(command: list[bytes], port: int) -> bool:
    """Return whether `command` runs uvicorn or gunicorn on `port`.

    uvicorn takes the port as `--port PORT`, gunicorn as `--bind HOST:PORT`.
    """
    server = any(b"uvicorn" in part or b"gunicorn" in part for part in command)
    port_bytes = str(port).encode()
    return server and any(
        part == port_bytes or part.endswith(b":" + port_bytes) for part in command
    )


def closed_loop(options) -> dict:
    """Run `options.users` users and `options.sse` streams; return the numbers."""
    with tempfile.TemporaryDirectory(prefix="protokol-load-") as data_dir:
        env = fresh_environment("postgresql", Path(data_dir))
        env["PROTOKOL_DATABASE_POOL"] = str(options.pool)
        with server(env, workers=options.workers, prefork=options.prefork) as port:
            return run_users(
                port,
                options.users,
                options.sse,
                options.seconds,
                options.think,
                options.ramp,
            )


def run_users(
    port: int, users: int, sse: int, seconds: float, think: float, ramp: float
) -> dict:
    """Run `users` users and `sse` live streams against the server on `port`.

    Users start evenly over the first `ramp` seconds of the run.

    Returns request counts, latency percentiles, the errors as text, the
    seconds until each stream's response headers arrived, and the server's
    memory while the streams are open: summed RSS and summed PSS in MiB.
    """
    latencies: list[float] = []
    errors: list[str] = []
    idle_ms = idle_healthz_ms(port)
    tokens = {}
    for username in USERNAMES:
        client = Client(port)
        client.login(username)
        tokens[username] = client.headers["Authorization"].removeprefix("Bearer ")
        client.connection.close()
    streams, header_seconds = open_streams(port, sse)
    try:
        started = time.perf_counter()
        until = started + seconds
        with ThreadPoolExecutor(max_workers=users) as pool:
            for number in range(users):
                arrival = started + ramp * number / users
                pool.submit(
                    user_loop,
                    *(port, number, tokens, arrival, until, think),
                    *(latencies, errors),
                )
        elapsed = time.perf_counter() - started
        memory = server_memory(port)
    finally:
        for stream in streams:
            stream.close()
    return {
        "requests": len(latencies),
        "requests_per_s": len(latencies) / max(elapsed, 1e-9),
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p95_ms": percentile(latencies, 0.95) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "errors": errors,
        "idle_healthz_p50_ms": idle_ms,
        "memory_mib": memory["rss_mib"],
        "memory_pss_mib": memory["pss_mib"],
        "server_processes": memory["processes"],
        "stream_headers_max_s": max(header_seconds, default=0.0),
    }


def idle_healthz_ms(port: int, requests: int = 200) -> float:
    """Return the p50 of GET /healthz in milliseconds before any load starts."""
    client = Client(port)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        client.call("GET", "/healthz")
        times.append(time.perf_counter() - started)
    client.connection.close()
    return percentile(times, 0.5) * 1000


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def open_loop(options) -> dict:
    """Offer sessions at `options.rate` per second; return the numbers."""
    latencies: list[float] = []
    errors: list[str] = []
    sessions = int(options.rate * options.seconds)
    with tempfile.TemporaryDirectory(prefix="protokol-load-") as data_dir:
        env = fresh_environment("postgresql", Path(data_dir))
        env["PROTOKOL_DATABASE_POOL"] = str(options.pool)
        with (
            server(env, workers=options.workers, prefork=options.prefork) as port,
            ThreadPoolExecutor(max_workers=64) as pool,
        ):
            idle_ms = idle_healthz_ms(port)
            started = time.perf_counter()
            for number in range(sessions):
                delay = started + number / options.rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(session, port, options.messages, latencies, errors)
            pool.shutdown(wait=True)
            elapsed = time.perf_counter() - started
    return {
        "sessions": sessions,
        "requests": len(latencies),
        "requests_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p95_ms": percentile(latencies, 0.95) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "errors": errors,
        "idle_healthz_p50_ms": idle_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1.0, help="sessions per second")
    parser.add_argument(
        "--users", type=int, default=0, help="closed loop with this many users"
    )
    parser.add_argument("--sse", type=int, default=0, help="live streams held open")
    parser.add_argument(
        "--think",
        type=float,
        default=15.0,
        help="mean pause between one user's requests in seconds; 0 for none",
    )
    parser.add_argument(
        "--ramp",
        type=float,
        default=30.0,
        help="seconds over which the --users start, evenly spread",
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--messages", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--prefork",
        action="store_true",
        help="serve with gunicorn and protokol.gunicorn_conf, which imports the "
        "application once and forks the workers, instead of uvicorn --workers",
    )
    parser.add_argument("--pool", type=int, default=8)
    options = parser.parse_args()
    if not postgres_available():
        sys.exit("PostgreSQL on 127.0.0.1:5432 is required for this benchmark.")

    command = f"bench/load_bench.py {' '.join(sys.argv[1:]) or '(defaults)'}"
    print(f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"Machine: {machine()}")
    print(f"Command: {command}")
    print(
        "Load average at the start: {:.2f}, {:.2f}, {:.2f}\n".format(*os.getloadavg())
    )
    if options.users:
        r = closed_loop(options)
        print(
            "| users | live streams | seconds | requests/s | p50 ms | p95 ms "
            "| p99 ms | errors | server RSS MiB | server PSS MiB "
            "| slowest stream headers s |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        print(
            f"| {options.users} | {options.sse} | {options.seconds:g} "
            f"| {r['requests_per_s']:.1f} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} "
            f"| {r['p99_ms']:.0f} | {len(r['errors'])} | {r['memory_mib']:.0f} "
            f"| {r['memory_pss_mib']:.0f} | {r['stream_headers_max_s']:.2f} |"
        )
        name = "load-users"
    else:
        r = open_loop(options)
        print(
            "| sessions/s offered | sessions | requests/s achieved | p50 ms "
            "| p95 ms | p99 ms | errors |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|")
        print(
            f"| {options.rate:g} | {r['sessions']} | {r['requests_per_s']:.1f} "
            f"| {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['p99_ms']:.0f} "
            f"| {len(r['errors'])} |"
        )
        name = "load-rate"
    for error in r["errors"][:5]:
        print(f"  {error}", file=sys.stderr)
    print("Load average at the end: {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg()))
    path = write_result(
        name,
        value=r["p99_ms"],
        value_label="p99 latency under load",
        baseline=r["idle_healthz_p50_ms"],
        baseline_label="p50 of GET /healthz on the idle server",
        unit="ms",
        better="lower",
        goal="no errors",
        command=command,
        details={
            **r,
            "errors": len(r["errors"]),
            "server": "gunicorn" if options.prefork else "uvicorn",
            "workers": options.workers,
        },
    )
    print(f"\nJSON: {path}")


if __name__ == "__main__":
    main()
