"""Analytics reads go to the read replica's alias; everything else to the primary."""

import json
import os
import sqlite3
import subprocess
import sys
import urllib.request
from contextlib import closing

import pytest
from django.test import RequestFactory

from protokol.accounts.models import User
from protokol.analytics import replica
from protokol.consultations.models import Consultation, Message
from protokol.journal.models import JournalEntry
from uvicorn_process import serve

ROUTER = replica.AnalyticsRouter()


@pytest.fixture
def with_replica(monkeypatch):
    monkeypatch.setattr(replica, "replica_configured", lambda: True)


def test_reads_outside_analytics_stay_on_default(with_replica):
    assert ROUTER.db_for_read(Consultation) is None


def test_analytics_reads_use_replica(with_replica):
    with replica.analytics_reads():
        assert ROUTER.db_for_read(Consultation) == "analytics"
        assert ROUTER.db_for_read(Message) == "analytics"


def test_journal_and_users_stay_on_primary(with_replica):
    with replica.analytics_reads():
        assert ROUTER.db_for_read(JournalEntry) is None
        assert ROUTER.db_for_read(User) is None


def test_no_replica_configured_reads_default():
    with replica.analytics_reads():
        assert ROUTER.db_for_read(Consultation) is None


def test_writes_and_migrations_stay_on_primary(with_replica):
    with replica.analytics_reads():
        assert ROUTER.allow_migrate("analytics", "consultations") is False
        assert ROUTER.allow_migrate("default", "consultations") is True


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/analytics/", True),
        ("/analytics/compare/", True),
        ("/api/v1/analytics/overview", True),
        ("/consultations/", False),
        ("/api/v1/consultations", False),
    ],
)
def test_middleware_marks_analytics_paths(path, expected):
    seen = []

    def view(request):
        seen.append(replica._analytics_reads.get())
        return None

    replica.AnalyticsReplicaMiddleware(view)(RequestFactory().get(path))

    assert seen == [expected]
    assert replica._analytics_reads.get() is False


def protokol_command(env: dict, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-c", "from protokol.cli import main; main()", *args],
        env=env,
        check=True,
        capture_output=True,
    )


def api_call(base: str, method: str, path: str, body=None, token: str = "") -> dict:
    request = urllib.request.Request(
        base + "/api/v1" + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json"}
        | ({"Authorization": f"Bearer {token}"} if token else {}),
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def api_token(base: str, username: str) -> str:
    body = {"username": username, "password": "demo"}
    return api_call(base, "POST", "/auth/token", body)["token"]


def test_server_reads_statistics_from_replica(tmp_path):
    """A replica copied before the consultation was made does not count it."""
    env = {
        **os.environ,
        "PROTOKOL_DEMO": "1",
        "PROTOKOL_DATA_DIR": str(tmp_path),
        "PROTOKOL_DATABASE_URL": "",
    }
    protokol_command(env, "migrate", "--no-input", "-v", "0")
    protokol_command(env, "seed-demo")
    replica_path = tmp_path / "replica.sqlite3"
    with (
        closing(sqlite3.connect(tmp_path / "protokol.sqlite3")) as primary,
        closing(sqlite3.connect(replica_path)) as copy,
    ):
        primary.backup(copy)

    replica_url = f"sqlite:///{replica_path}"
    with serve(tmp_path, {"PROTOKOL_ANALYTICS_DATABASE_URL": replica_url}) as server:
        citizen = api_token(server.url, "citizen")
        new = {"service": "GEN", "subject": "Пособие", "description": "Вопрос"}
        api_call(server.url, "POST", "/consultations", new, citizen)
        supervisor = api_token(server.url, "supervisor")

        listed = api_call(server.url, "GET", "/consultations", token=supervisor)
        statistics = api_call(
            server.url, "GET", "/analytics/statistics", token=supervisor
        )

    assert listed["count"] == 1
    assert statistics["total"]["total"] == 0
