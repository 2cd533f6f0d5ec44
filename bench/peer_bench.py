"""Protokol's write path side by side with django-helpdesk and a raw INSERT loop.

All three run in one invocation on the same PostgreSQL server, each against a
fresh database: Protokol and django-helpdesk behind uvicorn with the same
worker count, driven by the same keep-alive JSON client. django-helpdesk runs
in its own virtualenv under var/peers/, installed from PyPI with the pins in
bench/peers/helpdesk/requirements.txt. Prints a Markdown table of rates and
ratios.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from record import machine, write_result
from run import (
    POSTGRES_ADMIN,
    POSTGRES_BENCH,
    ROOT,
    Client,
    fresh_environment,
    postgres_available,
    protokol_writes,
    server,
)

PEER = ROOT / "bench" / "peers" / "helpdesk"
PEER_VENV = ROOT / "var" / "peers" / "helpdesk-venv"
HELPDESK_DATABASE = "helpdesk_bench"
HELPDESK_URL = f"postgresql://postgres@127.0.0.1:5432/{HELPDESK_DATABASE}"

# Creates the API user, its token and one queue; prints them as JSON.
HELPDESK_SETUP = """
import json
from django.contrib.auth import get_user_model
from helpdesk.models import Queue
from rest_framework.authtoken.models import Token
user = get_user_model().objects.create_superuser("bench", "bench@example.org", "x")
queue = Queue.objects.create(title="Bench", slug="bench")
print(json.dumps({"token": Token.objects.create(user=user).key, "queue": queue.id}))
"""


def helpdesk_venv() -> Path:
    """Create django-helpdesk's virtualenv on first use; return its bin dir."""
    bin_dir = PEER_VENV / "bin"
    marker = PEER_VENV / ".installed"
    requirements = PEER / "requirements.txt"
    if not marker.exists() or marker.read_text() != requirements.read_text():
        subprocess.run([sys.executable, "-m", "venv", PEER_VENV], check=True)
        subprocess.run(
            [bin_dir / "pip", "install", "--quiet", "-r", requirements], check=True
        )
        marker.write_text(requirements.read_text())
    return bin_dir


def fresh_helpdesk(bin_dir: Path, media: Path, pool: int) -> tuple[dict, dict]:
    """Return the environment and API credentials of an empty django-helpdesk."""
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {HELPDESK_DATABASE}")
        connection.execute(f"CREATE DATABASE {HELPDESK_DATABASE}")
    env = {
        **os.environ,
        "HELPDESK_DATABASE_POOL": str(pool),
        "HELPDESK_DATABASE_URL": HELPDESK_URL,
        "HELPDESK_MEDIA_ROOT": str(media),
    }

    manage = [bin_dir / "python", "manage.py"]
    subprocess.run(
        [*manage, "migrate", "--no-input", "-v", "0"],
        cwd=PEER,
        env=env,
        check=True,
        capture_output=True,
    )
    created = subprocess.run(
        [*manage, "shell", "-c", HELPDESK_SETUP],
        cwd=PEER,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return env, json.loads(created.stdout.strip().splitlines()[-1])


def helpdesk_writes(client: Client, queue: int, tickets: int, follow_ups: int):
    """Create tickets with follow-ups; return seconds in all and in follow-ups."""
    appending = 0.0
    started = time.perf_counter()
    for number in range(tickets):
        ticket = client.call(
            "POST",
            "/helpdesk/api/tickets/",
            {
                "queue": queue,
                "title": f"Вопрос {number}",
                "description": "Как оформить меру социальной поддержки?",
                "submitter_email": "citizen@example.org",
                "priority": 3,
            },
            expect=201,
        )
        appended = time.perf_counter()
        for reply in range(follow_ups):
            client.call(
                "POST",
                "/helpdesk/api/followups/",
                {
                    "ticket": ticket["id"],
                    "title": "Ответ",
                    "comment": f"Сообщение {reply}",
                    "public": True,
                },
                expect=201,
            )
        appending += time.perf_counter() - appended
    return time.perf_counter() - started, appending


def in_parallel(clients: int, work) -> float:
    """Run `work(index)` in `clients` threads at once; return the wall seconds."""
    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def bench_protokol(options, clients: int) -> dict:
    per_client = options.consultations // clients
    appending = []
    with tempfile.TemporaryDirectory(prefix="protokol-bench-") as data_dir:
        env = fresh_environment("postgresql", Path(data_dir))
        env["PROTOKOL_DATABASE_POOL"] = str(options.pool)
        with server(env, workers=options.workers) as port:
            logged_in = []
            for _ in range(clients):
                client = Client(port)
                client.login("citizen")
                logged_in.append(client)

            def work(index: int) -> None:
                _, seconds = protokol_writes(
                    logged_in[index], per_client, options.messages
                )
                appending.append(seconds)

            elapsed = in_parallel(clients, work)
            empty = empty_requests(
                logged_in, options.consultations * options.messages // clients
            )
    return {
        **rates(per_client * clients, options.messages, elapsed, appending),
        "empty_requests_per_s": empty,
    }


def empty_requests(clients: list[Client], count: int) -> float:
    """Return the summed rate of `GET /healthz`, `count` calls per client at once.

    The view returns a constant without touching the database, so its rate is
    the most any request that also writes a row could reach on this server
    with as many clients.
    """
    elapsed = in_parallel(
        len(clients),
        lambda index: [clients[index].call("GET", "/healthz") for _ in range(count)],
    )
    return len(clients) * count / elapsed


def ceiling_ratio(empty_per_s: float, raw_per_s: float) -> float:
    """Return the best appends ÷ raw ratio of a request that only inserts a row.

    Such a request costs at least an empty request plus one INSERT+COMMIT.
    """
    raw_seconds = 1 / raw_per_s
    return raw_seconds / (1 / empty_per_s + raw_seconds)


def bench_helpdesk(options, clients: int) -> dict:
    per_client = options.consultations // clients
    appending = []
    bin_dir = helpdesk_venv()
    with tempfile.TemporaryDirectory(prefix="helpdesk-bench-") as media:
        env, credentials = fresh_helpdesk(bin_dir, Path(media), options.pool)
        with server(
            env,
            uvicorn=bin_dir / "uvicorn",
            app="peer_site.asgi:application",
            cwd=PEER,
            workers=options.workers,
        ) as port:
            logged_in = []
            for _ in range(clients):
                client = Client(port)
                client.headers["Authorization"] = f"Token {credentials['token']}"
                logged_in.append(client)

            def work(index: int) -> None:
                _, seconds = helpdesk_writes(
                    logged_in[index], credentials["queue"], per_client, options.messages
                )
                appending.append(seconds)

            elapsed = in_parallel(clients, work)
    return rates(per_client * clients, options.messages, elapsed, appending)


def rates(items: int, messages: int, elapsed: float, appending: list[float]) -> dict:
    # Threads append at the same time, so the append rate is per client, summed.
    clients = len(appending)
    per_client = items // clients * messages
    return {
        "items_per_s": items / elapsed,
        "requests_per_s": items * (1 + messages) / elapsed,
        "appends_per_s": sum(per_client / seconds for seconds in appending),
    }


def bench_raw_inserts(rows: int) -> float:
    """INSERT and COMMIT one message-sized row at a time; return rows per second.

    The table is an ordinary logged table in the benchmark's database, so each
    commit waits for the WAL flush under the server's own durability settings,
    as the API's commits do.
    """
    with psycopg.connect(POSTGRES_BENCH) as connection:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS bench_raw_message (id bigserial PRIMARY KEY, "
            "consultation_id bigint NOT NULL, author_id bigint NOT NULL, "
            "visibility varchar(16) NOT NULL, text text NOT NULL, "
            "created_at timestamptz NOT NULL DEFAULT now())"
        )
        connection.commit()
        started = time.perf_counter()
        for number in range(rows):
            connection.execute(
                "INSERT INTO bench_raw_message "
                "(consultation_id, author_id, visibility, text) "
                "VALUES (%s, %s, 'public', %s)",
                (number // 10, 1, f"Сообщение {number}"),
            )
            connection.commit()
        return rows / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--consultations", type=int, default=200)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, nargs="*", default=[1, 4])
    parser.add_argument(
        "--pool",
        type=int,
        default=8,
        help="psycopg pool size per worker for both servers; 0 connects per request",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="runs of both servers in turn per client count; the median round "
        "is reported",
    )
    parser.add_argument(
        "--without-helpdesk",
        action="store_true",
        help="measure only Protokol's appends against the raw INSERT loop",
    )
    options = parser.parse_args()
    if options.rounds < 1:
        parser.error(f"--rounds must be at least 1, not {options.rounds}")
    if not postgres_available():
        sys.exit("PostgreSQL on 127.0.0.1:5432 is required for this benchmark.")

    print(f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"Machine: {machine()}")
    print(f"Command: make bench-peers ({' '.join(sys.argv[1:]) or 'defaults'})\n")

    if options.without_helpdesk:
        append_only(options)
        return
    command = " ".join(["python bench/peer_bench.py", *sys.argv[1:]])
    if len(sys.argv) == 1:
        command = "make bench-peers"
    print(
        "| clients | Protokol consultations/s | django-helpdesk tickets/s "
        "| Protokol ÷ helpdesk | Protokol appends/s | helpdesk follow-ups/s "
        "| raw INSERT+COMMIT/s | Protokol appends ÷ raw |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for clients in options.clients:
        ours, theirs, raw, ratios = median_round(options, clients)
        print(
            f"| {clients} | {ours['items_per_s']:.1f} | {theirs['items_per_s']:.1f} "
            f"| {ours['items_per_s'] / theirs['items_per_s']:.2f} "
            f"| {ours['appends_per_s']:.0f} | {theirs['appends_per_s']:.0f} "
            f"| {raw:.0f} | {ours['appends_per_s'] / raw:.2f} |",
            flush=True,
        )
        write_result(
            f"peer-helpdesk-{clients}-clients",
            value=ours["items_per_s"],
            value_label="Protokol: consultation plus 10 messages through the API",
            baseline=theirs["items_per_s"],
            baseline_label="django-helpdesk: ticket plus 10 follow-ups through its API",
            unit="items/s",
            better="higher",
            goal="ratio at least 2",
            command=command,
            details={"protokol": ours, "helpdesk": theirs, "round_ratios": ratios},
        )
        record_appends(clients, ours, raw, command)


def median_round(options, clients: int) -> tuple[dict, dict, float, list[float]]:
    """Run both servers and the raw loop `options.rounds` times in turn.

    Returns the rates of the round with the median Protokol ÷ helpdesk ratio,
    and every round's ratio. Consecutive runs on an idle machine differ by up
    to 0.3 in that ratio, and taking turns spreads a slow spell over both.
    """
    rounds = []
    for _ in range(options.rounds):
        ours = bench_protokol(options, clients)
        theirs = bench_helpdesk(options, clients)
        raw = bench_raw_inserts(options.consultations * options.messages)
        rounds.append((ours["items_per_s"] / theirs["items_per_s"], ours, theirs, raw))
    rounds.sort(key=lambda measured: measured[0])
    ratios = [round(ratio, 3) for ratio, *_ in rounds]
    _, ours, theirs, raw = rounds[(len(rounds) - 1) // 2]
    return ours, theirs, raw, ratios


def append_only(options) -> None:
    """Print and record Protokol's append rate against the raw INSERT loop."""
    print(
        "| clients | Protokol appends/s | raw INSERT+COMMIT/s | Protokol ÷ raw "
        "| empty requests/s | ceiling ÷ raw |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for clients in options.clients:
        ours = bench_protokol(options, clients)
        raw = bench_raw_inserts(options.consultations * options.messages)
        ratio = ours["appends_per_s"] / raw
        empty = ours["empty_requests_per_s"]
        print(
            f"| {clients} | {ours['appends_per_s']:.0f} | {raw:.0f} | {ratio:.2f} "
            f"| {empty:.0f} | {ceiling_ratio(empty, raw):.2f} |",
            flush=True,
        )
        record_appends(clients, ours, raw, "bench/peer_bench.py --without-helpdesk")


def record_appends(clients: int, ours: dict, raw: float, command: str) -> None:
    """Write the append rate against the raw loop, with the empty request's ceiling.

    The ceiling is the ratio that a request doing nothing but the INSERT and
    its COMMIT would reach (see ceiling_ratio).
    """
    empty = ours["empty_requests_per_s"]
    write_result(
        f"append-vs-raw-insert-{clients}-clients",
        value=ours["appends_per_s"],
        value_label="message appends through the API",
        baseline=raw,
        baseline_label="raw INSERT+COMMIT loop on the same database",
        unit="rows/s",
        better="higher",
        goal="ratio at least 0.5",
        command=command,
        details={
            "empty_requests_per_s": round(empty, 1),
            "ceiling_ratio": round(ceiling_ratio(empty, raw), 3),
        },
    )


if __name__ == "__main__":
    main()
