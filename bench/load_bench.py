"""Open-loop load test: citizens arrive at a fixed rate and each runs a session.

A session creates a consultation, adds messages, lists its consultations and
reads the one it created, as the demo citizen over the HTTP API. Sessions
start on a fixed schedule whether or not earlier ones have finished, so a
server that falls behind shows it in latency and in the achieved rate rather
than slowing the generator down. Runs on PostgreSQL with uvicorn workers, like
the production deployment in docs/deployment.md, scaled down to one machine.
"""

import argparse
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from run import Client, fresh_environment, postgres_available, server


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


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1.0, help="sessions per second")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--messages", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pool", type=int, default=8)
    options = parser.parse_args()
    if not postgres_available():
        sys.exit("PostgreSQL on 127.0.0.1:5432 is required for this benchmark.")

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

    requests = len(latencies)
    print(f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.platform()}"
    )
    print(f"Command: bench/load_bench.py {' '.join(sys.argv[1:]) or '(defaults)'}\n")
    print(
        "| sessions/s offered | sessions | requests/s achieved | p50 ms | p95 ms "
        "| p99 ms | errors |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {options.rate:g} | {sessions} | {requests / elapsed:.1f} "
        f"| {percentile(latencies, 0.5) * 1000:.0f} "
        f"| {percentile(latencies, 0.95) * 1000:.0f} "
        f"| {percentile(latencies, 0.99) * 1000:.0f} | {len(errors)} |"
    )
    for error in errors[:5]:
        print(f"  {error}", file=sys.stderr)


if __name__ == "__main__":
    main()
