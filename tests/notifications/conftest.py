"""Real components of the notification tests: a worker subprocess against the
test database, an SMTP server and HTTP webhook receivers, all on loopback.

Tests that the worker must see commit their writes, so they use
`committed_db` instead of pytest-django's rolled-back `db`.
"""

import hashlib
import hmac
import importlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from django.apps import apps
from django.db import connection

from protokol.accounts.models import User

RETRY_BASE_SECONDS = 0.2
MAX_ATTEMPTS = 5
WAIT_SECONDS = 90
# A stopped worker finishes its current task, whose SMTP and webhook calls
# time out after 10 s.
WORKER_STOP_SECONDS = 20

# Migrations whose triggers make journal and signature rows append-only;
# flushing the test database between committed tests lifts them meanwhile.
TRIGGER_MIGRATIONS = [
    ("protokol.journal.migrations.0002_append_only_triggers", "install", "remove"),
    (
        "protokol.journal.migrations.0004_merkle_backfill_and_triggers",
        "install_triggers",
        "remove_triggers",
    ),
    (
        "protokol.journal.migrations.0007_erasable_payload",
        "install_triggers",
        "remove_triggers",
    ),
    ("protokol.signing.migrations.0002_append_only_triggers", "install", "remove"),
    (
        "protokol.retention.migrations.0001_retention_policies_holds_disposals",
        "install",
        "remove",
    ),
    (
        "protokol.disputes.migrations.0002_conclusion_append_only_triggers",
        "install",
        "remove",
    ),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(predicate, what: str, timeout: float = WAIT_SECONDS):
    """Poll `predicate` until it returns a true value; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# -- SMTP


class Mailbox:
    """aiosmtpd handler that keeps every received message."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=default_policy)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def to(self, address: str) -> list:
        return [m for rcpt, m in self.messages if address in rcpt]

    def texts(self) -> list[str]:
        return [m["Subject"] + "\n" + m.get_content() for _, m in self.messages]


@pytest.fixture(scope="session")
def smtp_server():
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, mailbox
    controller.stop()


@pytest.fixture
def mailbox(smtp_server):
    _, box = smtp_server
    box.messages.clear()
    return box


# -- HTTP receivers


class Receiver:
    """A webhook endpoint on loopback that records calls and can fail on purpose."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.calls = []
        self.failing = False
        self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                body = self.rfile.read(length)
                if receiver.failing:
                    self.send_response(503)
                else:
                    receiver.calls.append((dict(self.headers), body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def events(self) -> list[dict]:
        return [json.loads(body) for _, body in self.calls]


@pytest.fixture
def receivers():
    """Make receivers; each is stopped after the test."""
    made = []

    def make(*, started: bool = True) -> Receiver:
        receiver = Receiver()
        made.append(receiver)
        return receiver.start() if started else receiver

    yield make
    for receiver in made:
        receiver.stop()


def verify_signature(secret: str, headers: dict, body: bytes) -> bool:
    timestamp = headers["X-Protokol-Timestamp"]
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(
        headers["X-Protokol-Signature"], "sha256=" + mac.hexdigest()
    )


# -- the worker and the committed database


def database_url() -> str:
    """Return a PROTOKOL_DATABASE_URL naming the test database."""
    database = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{database['NAME']}"
    user = quote(database["USER"] or "")
    password = quote(database["PASSWORD"] or "")
    credentials = f"{user}:{password}@" if password else f"{user}@"
    port = database["PORT"] or 5432
    return f"postgresql://{credentials}{database['HOST']}:{port}/{database['NAME']}"


def check_test_database() -> None:
    """Fail unless the default connection names a test database on disk.

    A worker must never poll, and the flush never empty, a real database.
    """
    name = connection.settings_dict["NAME"]
    test_name = connection.settings_dict["TEST"].get("NAME")
    assert name == test_name if test_name else name.startswith("test_"), name
    if connection.vendor == "sqlite" and "memory" in str(name):
        pytest.fail("the worker needs a file-based SQLite test database")


@contextmanager
def worker_process(
    arguments: list[str], log_path: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    """Run `protokol ARGUMENTS` (`worker` or `db_worker`) on the test database.

    Leaving the block stops the worker and waits until its process has
    exited and, on PostgreSQL, its database sessions have ended. Call it
    from a fixture that depends on `committed_db`, so that this happens
    before the test database is flushed: a worker still running a task
    held locks that made the flush fail with "deadlock detected".
    """
    check_test_database()
    # libpq names the worker's sessions after PGAPPNAME, so they can be found.
    application = f"protokol-test-worker-{uuid.uuid4().hex[:12]}"
    child_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "PROTOKOL_DATABASE_URL": database_url(),
        "PGAPPNAME": application,
        **(env or {}),
    }
    command = [sys.executable, "-c", "from protokol.cli import main; main()"]
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*command, *arguments],
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            _stop_worker(process)
            _wait_for_sessions_to_end(application)


def _stop_worker(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=WORKER_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_for_sessions_to_end(application: str) -> None:
    """Wait until PostgreSQL has ended the sessions named `application`.

    A backend ends only after it notices that its client has gone, and
    until then it can still hold the locks of an open transaction.
    """
    if connection.vendor != "postgresql":
        return

    def ended() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                [application],
            )
            return cursor.fetchone()[0] == 0

    wait_for(ended, f"the database sessions of {application} to end")


@pytest.fixture
def worker(committed_db, smtp_server, tmp_path):
    """A `protokol worker` subprocess polling the test database during one test.

    It depends on `committed_db`, so it is stopped before the flush.
    """
    controller, _ = smtp_server
    env = {
        "PROTOKOL_EMAIL_URL": f"smtp://127.0.0.1:{controller.port}",
        "PROTOKOL_NOTIFY_RETRY_BASE_SECONDS": str(RETRY_BASE_SECONDS),
        "PROTOKOL_NOTIFY_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
    }
    arguments = ["worker", "--interval", "0.05", "--no-startup-delay"]
    with worker_process(arguments, tmp_path / "worker.log", env) as process:
        yield process


def _set_triggers(*, installed: bool) -> None:
    """Install or drop the append-only triggers with their migrations' code."""
    order = TRIGGER_MIGRATIONS if installed else reversed(TRIGGER_MIGRATIONS)
    with connection.schema_editor() as editor:
        for module_name, install, remove in order:
            module = importlib.import_module(module_name)
            getattr(module, install if installed else remove)(apps, editor)


@pytest.fixture
def _triggers_restored(django_db_setup, django_db_blocker):
    # Set up before transactional_db, so torn down after its flush.
    yield
    with django_db_blocker.unblock():
        _set_triggers(installed=True)


@pytest.fixture
def committed_db(_triggers_restored, transactional_db, settings, smtp_server):
    """Database access with real commits; the test database is flushed after.

    pytest-django's flush deletes every row, which the append-only triggers
    reject, so they are dropped before the flush and installed again after.
    """
    controller, _ = smtp_server
    # The test process plans deliveries too (deadline checks), so it sees the
    # same SMTP server address as the worker.
    settings.CONFIG = settings.CONFIG.model_copy(
        update={"email_url": f"smtp://127.0.0.1:{controller.port}"}
    )
    yield
    _set_triggers(installed=False)


@pytest.fixture
def people(committed_db):
    """Demo accounts in the committed database; the citizen has an e-mail address."""
    from protokol.accounts.demo import seed_demo

    seed_demo()
    User.objects.filter(username="citizen").update(email="citizen@example.org")
    User.objects.filter(username="operator").update(email="operator@example.org")
    return {user.username: user for user in User.objects.all()}
