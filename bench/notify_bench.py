"""Notification throughput through the db_worker, against direct inserts.

A fresh installation (SQLite, or PostgreSQL with --database postgresql)
gets one consultation and N public operator messages while no worker runs,
so N dispatch tasks wait in the queue. Each message notifies the citizen in
the app and calls one webhook on a loopback receiver: 2 N deliveries. Then
one `protokol db_worker` drains the queue; the rate is taken from the first
task's start to the last task's finish, so process start-up is excluded.
Baseline in the same run: inserting N Notification rows directly, one
autocommit insert each. Prints one Markdown table row and writes JSON under
bench/results/.

    .venv/bin/python bench/notify_bench.py 500 [--database postgresql]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from record import write_result

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
POSTGRES_BENCH = "postgresql://postgres@127.0.0.1:5432/protokol_notify_bench"


class Receiver(BaseHTTPRequestHandler):
    calls = 0

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.calls += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def prepare_environment(database: str, data_dir: Path) -> None:
    os.environ.update(
        {
            "PROTOKOL_DEMO": "1",
            "PROTOKOL_DATA_DIR": str(data_dir),
            "DJANGO_SETTINGS_MODULE": "protokol.settings",
        }
    )
    os.environ.pop("PROTOKOL_DATABASE_URL", None)
    os.environ.pop("PROTOKOL_EMAIL_URL", None)
    if database == "postgresql":
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
            connection.execute("DROP DATABASE IF EXISTS protokol_notify_bench")
            connection.execute("CREATE DATABASE protokol_notify_bench")
        os.environ["PROTOKOL_DATABASE_URL"] = POSTGRES_BENCH
    for command in (["migrate", "--no-input", "-v", "0"], ["seed-demo"]):
        subprocess.run(
            [sys.executable, "-c", "from protokol.cli import main; main()", *command],
            check=True,
            capture_output=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", type=int, nargs="?", default=500)
    parser.add_argument("--database", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    database = args.database or "sqlite"

    data_dir = Path(tempfile.mkdtemp(prefix="protokol-notify-bench-"))
    prepare_environment(database, data_dir)
    import django

    django.setup()
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    from protokol.accounts.models import User
    from protokol.consultations import services as consultations
    from protokol.notifications import services
    from protokol.notifications.models import (
        Delivery,
        DeliveryStatus,
        Event,
        Notification,
    )

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    services.create_webhook(
        None, name="bench", url=f"http://127.0.0.1:{server.server_port}/hook"
    )

    citizen = User.objects.get(username="citizen")
    operator = User.objects.get(username="operator")
    consultation = consultations.create_consultation(
        citizen, service_code="GEN", subject="Пособие", description="Вопрос"
    )
    consultations.transition(operator, consultation.pk, action="take")
    for number in range(args.events):
        consultations.add_message(
            operator, consultation.pk, text=f"Ответ {number}", visibility="public"
        )

    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from protokol.cli import main; main()",
            "db_worker",
            "--interval",
            "0.05",
            "--no-startup-delay",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while DBTaskResult.objects.filter(status__in=["READY", "RUNNING"]).exists():
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait()

    tasks = DBTaskResult.objects.filter(status="SUCCESSFUL")
    first = tasks.order_by("started_at").first().started_at
    last = tasks.order_by("-finished_at").first().finished_at
    seconds = (last - first).total_seconds()
    sent = Delivery.objects.filter(status=DeliveryStatus.SENT).count()
    in_app = Notification.objects.filter(recipient=citizen).count()
    failed = DBTaskResult.objects.filter(status="FAILED").count()
    if failed or Receiver.calls != args.events + 1 or in_app != args.events + 1:
        raise SystemExit(
            f"incomplete run: {failed} failed tasks, {Receiver.calls} webhook calls, "
            f"{in_app} in-app notifications"
        )

    event = Event.objects.first()
    started = time.perf_counter()
    for _ in range(args.events):
        Notification.objects.create(
            recipient=citizen,
            event=event,
            kind=event.kind,
            consultation_id=event.consultation_id,
            params=event.params,
            created_at=timezone.now(),
        )
    baseline = args.events / (time.perf_counter() - started)
    server.shutdown()
    shutil.rmtree(data_dir, ignore_errors=True)

    rate = sent / seconds
    print(
        "| database | events | deliveries | worker s | deliveries/s "
        "| baseline inserts/s | baseline ÷ worker |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {database} | {args.events + 1:,} | {sent:,} | {seconds:.1f} "
        f"| {rate:,.0f} | {baseline:,.0f} | {baseline / rate:.0f}× |"
    )
    write_result(
        f"notify-{database}",
        value=rate,
        value_label="deliveries through protokol db_worker",
        baseline=baseline,
        baseline_label="direct Notification inserts",
        unit="rows/s",
        better="higher",
        command=" ".join(["python", "bench/notify_bench.py", *sys.argv[1:]]),
        details={"events": args.events + 1, "deliveries": sent, "worker_s": seconds},
    )


if __name__ == "__main__":
    main()
