"""Load tests: citizens arriving at a fixed rate, or a fixed number of users.

A session creates a consultation, adds messages, lists its consultations and
reads the one it created, as the demo citizen over the HTTP API. Sessions
start on a fixed schedule whether or not earlier ones have finished, so a
server that falls behind shows it in latency and in the achieved rate rather
than slowing the generator down. Runs on PostgreSQL with uvicorn workers, like
the production deployment in docs/deployment.md, scaled down to one machine.

With --users, a closed loop instead: that many users, half citizens and half
operators, repeat a mix of list, detail, search and write requests for the
given time. Meanwhile --sse clients keep live-update streams open. The
server's resident memory is read at the end.
"""

import argparse
import http.client
import http.cookiejar
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

from run import (
    Client,
    fresh_environment,
    machine,
    postgres_available,
    server,
    write_result,
)


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
        {
            "service": "GEN",
            "subject": "Перерасчёт платы за отопление",
            "description": "Прошу пояснить порядок перерасчёта.",
        },
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


def user_loop(port: int, username: str, until: float, latencies, errors) -> None:
    """Repeat a realistic mix of requests as one user until `until`."""
    client = Client(port)
    chooser = random.Random(username)

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

    body = {"username": username, "password": "demo"}
    token = timed("POST", "/api/v1/auth/token", body)
    if token is None:
        return
    client.headers["Authorization"] = f"Bearer {token['token']}"
    citizen = username.startswith("citizen")
    mine: list[int] = []

    while time.perf_counter() < until:
        draw = chooser.random()
        if draw < 0.45:
            listed = timed("GET", "/api/v1/consultations?limit=20")
            if listed:
                mine = [item["id"] for item in listed["items"]][:20] or mine
        elif draw < 0.75 and mine:
            timed("GET", f"/api/v1/consultations/{chooser.choice(mine)}")
        elif draw < 0.85:
            query = urllib.parse.quote("отопление")
            timed("GET", f"/api/v1/consultations?q={query}&limit=20")
        elif citizen:
            new = {
                "service": "GEN",
                "subject": "Перерасчёт платы за отопление",
                "description": "Прошу пояснить порядок перерасчёта.",
            }
            created = timed("POST", "/api/v1/consultations", new, expect=201)
            if created:
                mine.insert(0, created["id"])
        elif mine:
            timed(
                "POST",
                f"/api/v1/consultations/{chooser.choice(mine)}/messages",
                {"text": "Уточните, пожалуйста, период.", "visibility": "public"},
                expect=201,
            )


def open_streams(port: int, count: int) -> list[http.client.HTTPResponse]:
    """Sign in to the web pages as the operator; open `count` SSE streams."""
    base = f"http://127.0.0.1:{port}"
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/login/").read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = {"username": "operator", "password": "demo", "csrfmiddlewaretoken": csrf}
    opener.open(
        urllib.request.Request(
            base + "/login/",
            data=urllib.parse.urlencode(form).encode(),
            headers={"Referer": base + "/login/"},
        )
    ).read()
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)

    streams = []
    for _ in range(count):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/queue/events/", headers={"Cookie": cookie})
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"GET /queue/events/: {response.status}")
        streams.append(response)
    return streams


def server_memory_mib(port: int) -> float:
    """Return the resident memory of the uvicorn on `port` and its workers."""
    processes = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            parent = int(re.search(r"PPid:\s+(\d+)", status).group(1))
            rss = re.search(r"VmRSS:\s+(\d+) kB", status)
            processes[int(entry.name)] = (
                parent,
                command,
                int(rss.group(1)) if rss else 0,
            )

    main_pid = next(
        pid
        for pid, (_, command, _) in processes.items()
        if any(b"uvicorn" in part for part in command) and str(port).encode() in command
    )
    kib = sum(
        rss
        for pid, (parent, _, rss) in processes.items()
        if pid == main_pid or parent == main_pid
    )
    return kib / 1024


def closed_loop(options) -> dict:
    """Run `options.users` users and `options.sse` streams; return the numbers."""
    latencies: list[float] = []
    errors: list[str] = []
    names = ["citizen", "operator"]
    with tempfile.TemporaryDirectory(prefix="protokol-load-") as data_dir:
        env = fresh_environment("postgresql", Path(data_dir))
        env["PROTOKOL_DATABASE_POOL"] = str(options.pool)
        with server(env, workers=options.workers) as port:
            streams = open_streams(port, options.sse)
            started = time.perf_counter()
            until = started + options.seconds
            with ThreadPoolExecutor(max_workers=options.users) as pool:
                for number in range(options.users):
                    username = names[number % 2]
                    pool.submit(user_loop, port, username, until, latencies, errors)
            elapsed = time.perf_counter() - started
            memory = server_memory_mib(port)
            for stream in streams:
                stream.close()
    return {
        "requests": len(latencies),
        "requests_per_s": len(latencies) / max(elapsed, 1e-9),
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p95_ms": percentile(latencies, 0.95) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "errors": errors,
        "memory_mib": memory,
    }


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
            server(env, workers=options.workers) as port,
            ThreadPoolExecutor(max_workers=64) as pool,
        ):
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
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1.0, help="sessions per second")
    parser.add_argument(
        "--users", type=int, default=0, help="closed loop with this many users"
    )
    parser.add_argument("--sse", type=int, default=0, help="live streams held open")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--messages", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pool", type=int, default=8)
    options = parser.parse_args()
    if not postgres_available():
        sys.exit("PostgreSQL on 127.0.0.1:5432 is required for this benchmark.")

    command = f"bench/load_bench.py {' '.join(sys.argv[1:]) or '(defaults)'}"
    print(f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"Machine: {machine()}")
    print(f"Command: {command}\n")
    if options.users:
        r = closed_loop(options)
        print(
            "| users | live streams | seconds | requests/s | p50 ms | p95 ms "
            "| p99 ms | errors | server memory MiB |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        print(
            f"| {options.users} | {options.sse} | {options.seconds:g} "
            f"| {r['requests_per_s']:.1f} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} "
            f"| {r['p99_ms']:.0f} | {len(r['errors'])} | {r['memory_mib']:.0f} |"
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
    numbers = {**r, "errors": len(r["errors"])}
    print(f"\nJSON: {write_result(name, numbers, command)}")


if __name__ == "__main__":
    main()
