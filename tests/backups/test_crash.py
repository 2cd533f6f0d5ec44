"""Crash consistency: kill -9 the server and the worker while clients write.

The server (uvicorn) and the notification worker (db_worker) run as real
processes on their own installation. Client threads walk consultations
through the API to signing until both processes are killed with SIGKILL at
once. After a restart the journal verifies, every consultation's rows match
its journal entries, every signature verifies, and `protokol worker` requeues
the tasks that the killed worker left running: every notification is
delivered, none twice.
"""

import http.client
import json
import os
import signal
import threading
import urllib.error
import urllib.request
from collections import defaultdict

import pytest

from notifications.conftest import Receiver, wait_for
from uvicorn_process import serve

pytestmark = pytest.mark.django_db(databases=[])

CLIENT_THREADS = 4
# Successful writes before the kill; enough for several signed protocols.
WRITES_BEFORE_KILL = 60
WAIT_SECONDS = 180
PROTOCOL = {
    "question": "Какие документы нужны для оформления пособия?",
    "documents": "Паспорт",
    "recommendations": "Подать заявление через МФЦ",
    "decision": "Разъяснено",
    "decision_reason": "Порядок назначения пособия",
}


class ServerGone(Exception):
    """The connection to the server failed: it was killed."""


class WalkAborted(Exception):
    """A write failed with a server error; the client starts a new walk."""


class Api:
    """A JSON client of one user's bearer token against a running server."""

    def __init__(self, base_url: str, username: str):
        self.base_url = base_url + "/api/v1"
        self.headers = {"Content-Type": "application/json"}
        body = {"username": username, "password": "demo"}
        status, answer = self.call("POST", "/auth/token", body)
        assert status == 200, answer
        self.headers["Authorization"] = f"Bearer {answer['token']}"

    def call(self, method: str, path: str, body=None) -> tuple[int, object]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method, headers=self.headers
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")
        # A response cut off by the kill ends in http.client.IncompleteRead.
        except (
            urllib.error.URLError,
            http.client.HTTPException,
            ConnectionError,
            TimeoutError,
        ) as error:
            raise ServerGone(str(error)) from error


class Clients:
    """Threads that each walk consultations from creation to signing."""

    def __init__(self, base_url: str):
        self.users = {
            name: Api(base_url, name) for name in ("citizen", "operator", "reviewer")
        }
        self.writes = 0
        self.signed = 0
        self.errors: list[str] = []
        self.server_errors: list[str] = []
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self.run, daemon=True)
            for _ in range(CLIENT_THREADS)
        ]

    def start(self) -> "Clients":
        for thread in self.threads:
            thread.start()
        return self

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=120)

    def run(self) -> None:
        try:
            while True:
                try:
                    self.walk_one()
                except WalkAborted:
                    continue
        except ServerGone:
            return

    def walk_one(self) -> None:
        citizen, operator, reviewer = (
            self.users[name] for name in ("citizen", "operator", "reviewer")
        )
        consultation = self.write(
            citizen,
            "POST",
            "/consultations",
            {"service": "GEN", "subject": "Пособие", "description": "Какие документы?"},
        )
        path = f"/consultations/{consultation['id']}"
        steps = [
            (citizen, "POST", "/messages", {"text": "Вопрос", "visibility": "public"}),
            (operator, "POST", "/transitions", {"action": "take"}),
            (operator, "POST", "/messages", {"text": "Ответ", "visibility": "public"}),
            (operator, "PUT", "/protocol", PROTOCOL),
            (operator, "POST", "/transitions", {"action": "submit"}),
            (reviewer, "POST", "/transitions", {"action": "approve"}),
            (reviewer, "POST", "/transitions", {"action": "sign"}),
        ]
        for user, method, suffix, body in steps:
            self.write(user, method, path + suffix, body)
        with self.lock:
            self.signed += 1

    def write(self, user: Api, method: str, path: str, body) -> dict:
        status, answer = user.call(method, path, body)
        failure = f"{method} {path}: {status} {answer}"
        # A 500 is a server bug (deadlocks on PostgreSQL once caused them),
        # never an effect of the kill, which only breaks connections.
        if status >= 500:
            with self.lock:
                self.server_errors.append(failure)
            raise WalkAborted(failure)
        if status >= 400:
            with self.lock:
                self.errors.append(failure)
            raise ServerGone(f"stopping after {status}")
        with self.lock:
            self.writes += 1
        return answer


def count_by_consultation(installation, sql: str) -> dict[int, int]:
    return {int(key): count for key, count in installation.query(sql)}


def assert_rows_match_journal(installation) -> None:
    """Check that each consultation's rows and journal entries tell one story."""
    created = {
        int(row[0])
        for row in installation.query(
            "SELECT object_id FROM journal_entry WHERE action = 'consultation:create'"
        )
    }
    consultations = {
        row[0]: row[1]
        for row in installation.query(
            "SELECT id, status FROM consultations_consultation"
        )
    }
    assert set(consultations) == created

    pairs = [
        ("consultations_transition", "consultation:transition"),
        ("consultations_message", "message:create"),
        ("protocols_protocolversion", "protocol:save"),
    ]
    for table, action in pairs:
        rows = count_by_consultation(
            installation,
            f"SELECT consultation_id, COUNT(*) FROM {table} GROUP BY consultation_id",
        )
        entries = count_by_consultation(
            installation,
            "SELECT consultation_id, COUNT(*) FROM journal_entry "
            f"WHERE action = '{action}' GROUP BY consultation_id",
        )
        assert rows == entries, table

    last_status = dict(
        installation.query(
            "SELECT consultation_id, to_status FROM consultations_transition t "
            "WHERE id = (SELECT MAX(id) FROM consultations_transition "
            "WHERE consultation_id = t.consultation_id)"
        )
    )
    for pk, status in consultations.items():
        assert status == last_status.get(pk, "initiated"), pk

    signed = {pk for pk, status in consultations.items() if status == "signed"}
    signature_counts = count_by_consultation(
        installation,
        "SELECT consultation_id, COUNT(*) FROM signing_signature "
        "GROUP BY consultation_id",
    )
    # The reviewer's signature and the organisation seal, or none at all.
    assert {pk: signature_counts.get(pk) for pk in signed} == dict.fromkeys(signed, 2)
    assert set(signature_counts) == signed


def settled(installation) -> bool:
    """Return whether no task waits or runs, retries of deliveries included."""
    unfinished = installation.query(
        "SELECT COUNT(*) FROM django_tasks_database_dbtaskresult "
        "WHERE status IN ('READY', 'RUNNING')"
    )[0][0]
    return unfinished == 0


@pytest.fixture
def live(source, backup_file, installations):
    """An installation with the demo accounts and PKI, restored from the backup."""
    installation = installations.new(
        "crash",
        keys_from=source,
        PROTOKOL_NOTIFY_RETRY_BASE_SECONDS="0.2",
        PROTOKOL_JOURNAL_CHECKPOINT_EVERY="25",
    )
    installation.protokol("restore", backup_file, "-v0")
    return installation


def server_env(installation) -> dict[str, str]:
    names = ("PYTHONPATH", "PROTOKOL_DATABASE_URL", "PROTOKOL_LOG_LEVEL")
    env = {name: installation.env[name] for name in names}
    env.update(installation.extra_env)
    return env


def test_kill_server_and_worker_mid_write(live):
    receiver = Receiver().start()
    try:
        run_crash_scenario(live, receiver)
    finally:
        receiver.stop()


def run_crash_scenario(live, receiver) -> None:
    worker_args = ("worker", "--interval", "0.05", "--no-startup-delay")
    with serve(live.data_dir, server_env(live)) as server:
        admin = Api(server.url, "admin")
        status, hook = admin.call(
            "POST",
            "/notifications/webhooks",
            {"name": "crash", "url": receiver.url, "include_internal": True},
        )
        assert status == 201, hook
        worker = live.start(*worker_args)

        clients = Clients(server.url).start()
        wait_for(
            lambda: clients.writes >= WRITES_BEFORE_KILL and clients.signed >= 1,
            "writes before the kill",
            timeout=WAIT_SECONDS,
        )
        os.kill(server.process.pid, signal.SIGKILL)
        worker.kill()
        clients.join()
        worker.wait()
        server.process.wait()
    writes_before_restart = clients.writes

    # The restarted installation accepts a whole walk, then settles.
    with serve(live.data_dir, server_env(live)) as server:
        worker = live.start(*worker_args)
        try:
            after = Clients(server.url)
            after.walk_one()
            after_walk_signed = after.signed
            wait_for(
                lambda: settled(live),
                "the worker to run every queued task",
                timeout=WAIT_SECONDS,
            )
            status, reports = after.users["reviewer"].call("GET", "/consultations")
            assert status == 200, reports
            signed_ids = [
                item["id"] for item in reports["items"] if item["status"] == "signed"
            ]
            signature_checks = {
                pk: after.users["reviewer"].call(
                    "GET", f"/consultations/{pk}/signatures"
                )
                for pk in signed_ids
            }
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)

    server_logs = "\n".join(
        path.read_text() for path in sorted(live.data_dir.glob("uvicorn-*.log"))
    )
    assert clients.errors == [], server_logs
    assert clients.server_errors == [], server_logs
    assert after.errors == [], server_logs
    assert after.server_errors == [], server_logs
    assert after_walk_signed == 1
    assert writes_before_restart >= WRITES_BEFORE_KILL
    live.protokol("journal", "-v0", "verify")
    assert_rows_match_journal(live)

    assert signed_ids
    for pk, (status, signatures) in signature_checks.items():
        assert status == 200, signatures
        assert [item["valid"] for item in signatures] == [True, True], pk

    assert_webhook_deliveries(live, receiver, hook["id"])


def assert_webhook_deliveries(live, receiver, webhook_id: int) -> None:
    """Check that no notification job was lost and none took effect twice.

    Every event-worthy journal entry after the webhook's creation has one
    event, one sent delivery to the webhook and at most one in-app
    notification per recipient. A delivery whose task died between sending
    and recording it is sent again, with the same X-Protokol-Delivery id by
    which receivers deduplicate, so every copy must carry the same body.
    """
    (webhook_index,) = live.query(
        "SELECT MAX(\"index\") FROM journal_entry WHERE action = 'webhook:create'"
    )[0]
    entries = {
        row[0]
        for row in live.query(
            'SELECT "index" FROM journal_entry WHERE consultation_id IS NOT NULL '
            "AND action IN ('consultation:transition', 'consultation:forward', "
            f"'message:create') AND \"index\" > {webhook_index}"
        )
    }
    events = dict(
        live.query(
            "SELECT id, journal_index FROM notifications_event "
            f"WHERE journal_index > {webhook_index}"
        )
    )
    assert entries
    assert sorted(events.values()) == sorted(entries)

    deliveries = live.query(
        "SELECT id, event_id, status FROM notifications_delivery "
        f"WHERE webhook_id = {webhook_id}"
    )
    # Entries restored from the backup may notify the webhook too.
    delivered_events = [event_id for _, event_id, _ in deliveries]
    assert len(delivered_events) == len(set(delivered_events))
    assert set(events) <= set(delivered_events)
    unsent = [(pk, status) for pk, _, status in deliveries if status != "sent"]
    assert unsent == []

    bodies = defaultdict(set)
    for headers, body in receiver.calls:
        bodies[int(headers["X-Protokol-Delivery"])].add(body)
    assert set(bodies) == {pk for pk, _, _ in deliveries}
    assert {key: len(value) for key, value in bodies.items()} == dict.fromkeys(
        bodies, 1
    )

    repeated = live.query(
        "SELECT event_id, recipient_id, COUNT(*) FROM notifications_notification "
        "GROUP BY event_id, recipient_id HAVING COUNT(*) > 1"
    )
    assert repeated == []
