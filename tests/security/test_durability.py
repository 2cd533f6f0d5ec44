"""Reads and denials are committed before the response, so a crash keeps them.

A real uvicorn server on a fresh SQLite database answers the requests and is
then killed with SIGKILL; the journal is read from the database file after.
"""

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
SERVER_START_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _request(url: str, *, token: str = "", body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture
def server(tmp_path):
    """Start uvicorn on a migrated demo database; yield its URL, process and file."""
    env = {**os.environ, "PROTOKOL_DEMO": "1", "PROTOKOL_DATA_DIR": str(tmp_path)}
    env.pop("PROTOKOL_DATABASE_URL", None)
    for command in (["migrate", "--no-input", "-v", "0"], ["seed-demo"]):
        subprocess.run(
            [BIN / "protokol", *command], env=env, check=True, capture_output=True
        )
    port = _free_port()
    log = tmp_path / "uvicorn.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [BIN / "uvicorn", "protokol.asgi:application", "--port", str(port)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"uvicorn exited:\n{log.read_text()}")
            try:
                if _request(f"{url}/healthz")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    pytest.fail(f"uvicorn did not answer in {SERVER_START_SECONDS} s")
                time.sleep(0.2)
        yield url, process, tmp_path / "protokol.sqlite3"
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def _token(url: str, username: str) -> str:
    status, body = _request(
        f"{url}/api/v1/auth/token", body={"username": username, "password": "demo"}
    )
    assert status == 200, body
    return body["token"]


def test_read_and_denial_survive_kill_after_response(server):
    url, process, database = server
    citizen, outsider = _token(url, "citizen"), _token(url, "citizen2")
    status, created = _request(
        f"{url}/api/v1/consultations",
        token=citizen,
        body={"service": "GEN", "subject": "Справка", "description": "Нужна справка"},
    )
    assert status == 201, created
    path = f"{url}/api/v1/consultations/{created['id']}"

    assert _request(path, token=citizen)[0] == 200
    assert _request(path, token=outsider)[0] == 404
    process.kill()
    process.wait()

    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT action, actor_name FROM journal_entry WHERE consultation_id = ? "
            "AND action IN ('consultation:read', 'access:denied') ORDER BY \"index\"",
            [created["id"]],
        ).fetchall()
    assert [action for action, _ in rows] == ["consultation:read", "access:denied"]
