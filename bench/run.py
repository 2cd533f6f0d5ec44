"""Benchmarks: API write throughput and the appeals import, on SQLite and PostgreSQL.

Each number comes with a baseline measured in the same run on the same server
(GET /healthz for the API, parsing the file for the import), so the ratios
stay comparable across machines. Prints a Markdown table.
"""

import argparse
import gzip
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from record import machine, write_result

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
SAMPLE = ROOT / "src" / "protokol" / "data" / "spb_appeals_sample.jsonl.gz"
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
# Runs that share a PostgreSQL server set their own name, since each run
# drops and recreates this database.
BENCH_DATABASE = os.environ.get("PROTOKOL_BENCH_DATABASE", "protokol_bench")
POSTGRES_BENCH = f"postgresql://postgres@127.0.0.1:5432/{BENCH_DATABASE}"


def protokol(env: dict, *args: str) -> None:
    subprocess.run([BIN / "protokol", *args], env=env, check=True, capture_output=True)


def fresh_environment(database: str, data_dir: Path, seed: bool = True) -> dict:
    """Return the environment of an empty, migrated installation.

    With `seed`, it also has the demo accounts, whose creation is journaled.
    """
    env = {**os.environ, "PROTOKOL_DEMO": "1", "PROTOKOL_DATA_DIR": str(data_dir)}
    env.pop("PROTOKOL_DATABASE_URL", None)
    if database == "postgresql":
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE}")
            connection.execute(f"CREATE DATABASE {BENCH_DATABASE}")
        env["PROTOKOL_DATABASE_URL"] = POSTGRES_BENCH
    protokol(env, "migrate", "--no-input", "-v", "0")
    if seed:
        protokol(env, "seed-demo")
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def server(
    env: dict,
    *,
    uvicorn: Path = BIN / "uvicorn",
    app: str = "protokol.asgi:application",
    cwd: Path | None = None,
    workers: int = 1,
    prefork: bool = False,
):
    """Run uvicorn on a free loopback port; yield the port.

    With `prefork`, gunicorn with the production settings of
    protokol.gunicorn_conf serves `app` instead. It imports the application
    once and forks `workers` uvicorn workers.
    """
    port = free_port()
    if prefork:
        command = [
            BIN / "gunicorn",
            app,
            "--config",
            "python:protokol.gunicorn_conf",
            "--bind",
            f"127.0.0.1:{port}",
        ]
    else:
        command = [uvicorn, app, "--port", str(port), "--host", "127.0.0.1"]
    command += ["--workers", str(workers), "--log-level", "warning"]
    process = subprocess.Popen(
        command,
        env={**env, "PROTOKOL_LOG_LEVEL": "WARNING"},
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # A group of its own, so that a kill reaches the workers too.
        start_new_session=True,
    )
    try:
        for _ in range(300):
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the server did not respond on /healthz within 30 s")
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            # Open server-sent event streams can hold a graceful stop.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class Client:
    """A keep-alive JSON client for one server."""

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Content-Type": "application/json"}

    def call(self, method: str, path: str, body=None, expect: int = 200) -> dict:
        payload = json.dumps(body).encode() if body is not None else None
        try:
            self.connection.request(method, path, body=payload, headers=self.headers)
            response = self.connection.getresponse()
        except http.client.RemoteDisconnected:
            # uvicorn closes a keep-alive connection after 5 s without a request,
            # as happens while other clients finish. A GET is sent again.
            if method != "GET":
                raise
            self.connection.close()
            self.connection.request(method, path, body=payload, headers=self.headers)
            response = self.connection.getresponse()
        data = response.read()
        if response.status != expect:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:200]!r}")
        return json.loads(data) if data else {}

    def login(self, username: str) -> None:
        token = self.call(
            "POST", "/api/v1/auth/token", {"username": username, "password": "demo"}
        )["token"]
        self.headers["Authorization"] = f"Bearer {token}"


def protokol_writes(client: Client, consultations: int, messages: int):
    """Create consultations with messages; return seconds in all and in appends."""
    appending = 0.0
    started = time.perf_counter()
    for number in range(consultations):
        created = client.call(
            "POST",
            "/api/v1/consultations",
            {
                "service": "GEN",
                "subject": f"Вопрос {number}",
                "description": "Как оформить меру социальной поддержки?",
            },
            expect=201,
        )
        appended = time.perf_counter()
        for reply in range(messages):
            client.call(
                "POST",
                f"/api/v1/consultations/{created['id']}/messages",
                {"text": f"Сообщение {reply}", "visibility": "public"},
                expect=201,
            )
        appending += time.perf_counter() - appended
    return time.perf_counter() - started, appending


def bench_api(database: str, consultations: int, messages: int) -> dict:
    """Create consultations with `messages` messages each through the HTTP API."""
    with tempfile.TemporaryDirectory(prefix="protokol-bench-") as data_dir:
        env = fresh_environment(database, Path(data_dir))
        with server(env) as port:
            client = Client(port)
            client.login("citizen")

            baseline_requests = 500
            started = time.perf_counter()
            for _ in range(baseline_requests):
                client.call("GET", "/healthz")
            healthz_rate = baseline_requests / (time.perf_counter() - started)

            elapsed, _ = protokol_writes(client, consultations, messages)

    requests = consultations * (1 + messages)
    return {
        "consultations_per_s": consultations / elapsed,
        "requests_per_s": requests / elapsed,
        "healthz_per_s": healthz_rate,
        "ratio": (requests / elapsed) / healthz_rate,
    }


def bench_import(database: str) -> dict:
    """Import the packaged appeals into an empty installation."""
    started = time.perf_counter()
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as lines:
        records = sum(1 for line in lines if json.loads(line))
    parse_seconds = time.perf_counter() - started

    with tempfile.TemporaryDirectory(prefix="protokol-bench-") as data_dir:
        env = fresh_environment(database, Path(data_dir))
        started = time.perf_counter()
        protokol(env, "import-appeals", str(SAMPLE))
        seconds = time.perf_counter() - started
    return {
        "records": records,
        "seconds": seconds,
        "records_per_s": records / seconds,
        "parse_seconds": parse_seconds,
        "ratio": seconds / parse_seconds,
    }


def journal_bench(env: dict, *args: str) -> dict:
    finished = subprocess.run(
        [BIN / "python", ROOT / "bench" / "journal_bench.py", *args],
        env=env,
        capture_output=True,
        text=True,
    )
    if finished.returncode != 0:
        raise RuntimeError(
            f"journal_bench.py {' '.join(args)} failed:\n{finished.stderr[-3000:]}"
        )
    return json.loads(finished.stdout.strip().splitlines()[-1])


def bench_journal(database: str, entries: int) -> dict:
    """Append, verify and prove journal entries in an empty installation."""
    with tempfile.TemporaryDirectory(prefix="protokol-bench-") as data_dir:
        env = fresh_environment(database, Path(data_dir))
        return journal_bench(env, "appends", str(entries))


def bench_proofs(database: str, leaves: int) -> dict:
    """Prove in a tree of `leaves` synthetic leaves in an empty installation."""
    with tempfile.TemporaryDirectory(prefix="protokol-bench-") as data_dir:
        # No demo accounts: the synthetic leaves need an empty journal.
        env = fresh_environment(database, Path(data_dir), seed=False)
        return journal_bench(env, "proofs", "--leaves", str(leaves))


def bench_authz(database: str, consultations: int) -> dict:
    """Time the access predicate on a page of 100 in an installation."""
    with tempfile.TemporaryDirectory(prefix="protokol-bench-") as data_dir:
        env = fresh_environment(database, Path(data_dir))
        finished = subprocess.run(
            [BIN / "python", ROOT / "bench" / "authz_bench.py", str(consultations)],
            env={**env, "DJANGO_SETTINGS_MODULE": "protokol.settings"},
            capture_output=True,
            text=True,
        )
    if finished.returncode != 0:
        raise RuntimeError(f"authz_bench.py failed:\n{finished.stderr[-3000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def postgres_available() -> bool:
    return shutil.which("pg_isready") is not None and (
        subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q"]).returncode
        == 0
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--consultations", type=int, default=200)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--journal-entries", type=int, default=2000)
    parser.add_argument(
        "--proof-leaves",
        type=int,
        nargs="*",
        default=[1_000_000],
        help="Tree sizes of synthetic leaves to time proofs at (10,000,000 "
        "takes several minutes and about 3 GB on PostgreSQL).",
    )
    parser.add_argument(
        "--sections",
        default="api,journal,proofs,import,authz",
        help="Comma-separated sections to run: api, journal, proofs, import, authz.",
    )
    options = parser.parse_args()
    sections = set(options.sections.split(","))

    databases = ["sqlite"] + (["postgresql"] if postgres_available() else [])
    print(f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"Machine: {machine()}")
    print(f"Command: make bench ({' '.join(sys.argv[1:]) or 'defaults'})\n")

    if "api" in sections:
        print_api(databases, options)
    if "journal" in sections:
        print_journal(databases, options.journal_entries)
    if "proofs" in sections:
        print_proofs(databases, options.proof_leaves)
    if "import" in sections:
        print_import(databases)
    if "authz" in sections:
        print_authz(databases)


def print_api(databases: list[str], options) -> None:
    print(
        "| database | consultations/s (10 msgs each) | API writes/s "
        "| GET /healthz/s | writes ÷ healthz |"
    )
    print("|---|---:|---:|---:|---:|")
    for database in databases:
        r = bench_api(database, options.consultations, options.messages)
        write_result(
            f"api-{database}",
            value=r["requests_per_s"],
            value_label="API writes",
            baseline=r["healthz_per_s"],
            baseline_label="GET /healthz on the same server",
            unit="requests/s",
            better="higher",
            command="make bench (api)",
            details=r,
        )
        print(
            f"| {database} | {r['consultations_per_s']:.1f} | "
            f"{r['requests_per_s']:.0f} | {r['healthz_per_s']:.0f} | "
            f"{r['ratio']:.2f} |",
            flush=True,
        )
    print()


def print_journal(databases: list[str], entries: int) -> None:
    print(
        "| database | entries | appends/s | record() ×100/s | record_many(100)/s "
        "| verify entries/s | read+hash entries/s | verify ÷ read+hash (CPU) "
        "| hashlib entries/s | verify ÷ hashlib | inclusion proof ms (hashes) "
        "| consistency proof ms (hashes) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for database in databases:
        r = bench_journal(database, entries)
        write_result(
            f"journal-{database}",
            value=r["verify_entries_per_s"],
            value_label="journal verify",
            baseline=r["read_hash_entries_per_s"],
            baseline_label="the same rows read and SHA-256 hashed",
            unit="entries/s",
            better="higher",
            command="make bench (journal)",
            details=r,
        )
        print(
            f"| {database} | {r['entries']} | {r['appends_per_s']:.0f} | "
            f"{r['batched_appends_per_s']:.0f} | {r['record_many_per_s']:.0f} | "
            f"{r['verify_entries_per_s']:.0f} | {r['read_hash_entries_per_s']:.0f} | "
            f"{r['verify_entries_per_s'] / r['read_hash_entries_per_s']:.2f} "
            f"({r['verify_cpu_ratio']:.2f}) | "
            f"{r['hashlib_entries_per_s']:.0f} | "
            f"{r['verify_entries_per_s'] / r['hashlib_entries_per_s']:.3f} | "
            f"{r['inclusion_proof_ms']:.2f} ({r['inclusion_proof_hashes']}) | "
            f"{r['consistency_proof_ms']:.2f} ({r['consistency_proof_hashes']}) |",
            flush=True,
        )
    print()


def print_proofs(databases: list[str], sizes: list[int]) -> None:
    print(
        "| database | leaves | fill s | inclusion proof ms | hashes (bytes) "
        "| consistency proof ms | hashes | proofs checked |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for leaves in sizes:
        for database in databases:
            r = bench_proofs(database, leaves)
            write_result(
                f"proofs-{database}-{leaves}",
                value=r["inclusion_proof_ms"],
                value_label="inclusion proof read from the tree",
                baseline=r["inclusion_verify_ms"],
                baseline_label="checking the same proof in memory",
                unit="ms",
                better="lower",
                command="make bench (proofs)",
                details=r,
            )
            print(
                f"| {database} | {r['leaves']} | {r['fill_seconds']:.0f} | "
                f"{r['inclusion_proof_ms']:.2f} | {r['inclusion_proof_hashes']} "
                f"({r['inclusion_proof_bytes']}) | {r['consistency_proof_ms']:.2f} | "
                f"{r['consistency_proof_hashes']} | {r['proofs_checked']} |",
                flush=True,
            )
    print()


def print_import(databases: list[str]) -> None:
    print("| database | appeals | import s | appeals/s | parse s | import ÷ parse |")
    print("|---|---:|---:|---:|---:|---:|")
    for database in databases:
        r = bench_import(database)
        write_result(
            f"import-{database}",
            value=r["seconds"],
            value_label="import-appeals",
            baseline=r["parse_seconds"],
            baseline_label="parsing the same file",
            unit="s",
            better="lower",
            command="make bench (import)",
            details=r,
        )
        print(
            f"| {database} | {r['records']} | {r['seconds']:.1f} | "
            f"{r['records_per_s']:.0f} | {r['parse_seconds']:.2f} | "
            f"{r['ratio']:.0f} |",
            flush=True,
        )


def print_authz(databases: list[str]) -> None:
    print(
        "| database | consultations | rows visible | page of 100 scoped ms "
        "| unscoped ms | scoped ÷ unscoped | 100 object checks ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for database in databases:
        r = bench_authz(database, 400)
        print(
            f"| {database} | {r['consultations']} | {r['visible_rows']} "
            f"| {r['scoped_ms']:.2f} | {r['unscoped_ms']:.2f} | {r['ratio']:.2f} "
            f"| {r['object_checks_ms']:.3f} |",
            flush=True,
        )
        write_result(
            f"authz-{database}",
            value=r["scoped_ms"],
            value_label="page of 100 with the department scope",
            baseline=r["unscoped_ms"],
            baseline_label="the same page without a scope",
            unit="ms",
            better="lower",
            command="make bench (authz)",
            details=r,
        )
    print()


if __name__ == "__main__":
    main()
