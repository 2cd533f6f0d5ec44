"""No plaintext personal data in the database, the attachment store or the logs.

Known identifiers go in through the HTTP API of a uvicorn server started on a
fresh installation. They are sent as the citizen's own identifiers, as data
collected for two consultations, in a text file attached to one of them, in
lookups and in rejected requests with invalid values. One consultation is
then signed. The
server logs at DEBUG with PROTOKOL_DEBUG=1, so Django logs every SQL statement
with its parameters too. Afterwards every file of the data directory (SQLite
database and WAL, attachments), a pg_dump of the database when the suite runs
on PostgreSQL, and everything the server and the commands printed are searched
for each value in its common spellings.
"""

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

BIN = Path(sys.executable).parent
SERVER_START_SECONDS = 60

# Each value as given to the API, then the spellings searched for. A 6-digit
# passport number alone is not searched: it matches the microseconds of
# log timestamps by chance.
PASSPORT = "45 19 № 731946"
PHONE = "+7 (916) 482-07-35"
INN = "502731884666"
SNILS = "274-615-803 89"
ADDRESS = "197101, Санкт-Петербург, Кронверкская ул., д. 29/37, кв. 5"
SPELLINGS = {
    "passport": ["4519731946", "4519 731946", "45 19 731946", "45 19 № 731946"],
    "phone": [
        "79164820735",
        "9164820735",
        "89164820735",
        "916 482-07-35",
        "916 482 07 35",
        "(916) 482-07-35",
        "916-482-07-35",
        "482-07-35",
    ],
    "inn": ["502731884666", "5027 3188 4666", "5027 318846 66"],
    "snils": [
        "27461580389",
        "274-615-803 89",
        "274 615 803 89",
        "274-615-803-89",
        "274615803 89",
        "274615803",
    ],
    "postal_address": ["Кронверкская", "кв. 5"],
    # Invalid values sent in rejected requests are searched for too.
    "invalid snils": ["27461580388", "274-615-803 88"],
    "invalid inn": ["502731884665"],
}


def encodings(text: str) -> list[bytes]:
    """Return the byte forms a stored string may take: UTF-8, JSON-escaped, hex."""
    forms = [text.encode()]
    escaped = json.dumps(text)[1:-1]
    if escaped != text:
        forms.append(escaped.encode())
    # PostgreSQL dumps bytea columns as hex.
    forms.append(text.encode().hex().encode())
    return forms


def find_plaintext(blob: bytes) -> list[str]:
    """Return every spelling of a seeded value that occurs in `blob`."""
    found = []
    for name, spellings in SPELLINGS.items():
        for spelling in spellings:
            if any(form in blob for form in encodings(spelling)):
                found.append(f"{name}: {spelling!r}")
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Installation:
    """A data directory, its database and what its server and commands printed."""

    data_dir: Path
    env: dict
    database_url: str = ""
    log: Path = field(init=False)
    url: str = ""
    process: subprocess.Popen | None = None
    files_while_running: dict[Path, bytes] = field(default_factory=dict)
    responses: list[bytes] = field(default_factory=list)

    def __post_init__(self):
        self.log = self.data_dir.parent / "output.log"

    def protokol(self, *arguments: str) -> None:
        with self.log.open("ab") as output:
            subprocess.run(
                [BIN / "protokol", *arguments],
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                check=True,
            )

    def start(self) -> None:
        port = _free_port()
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [
                    BIN / "uvicorn",
                    "protokol.asgi:application",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--log-level",
                    "debug",
                ],
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"uvicorn exited:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=5):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        pytest.fail(f"uvicorn did not answer in {SERVER_START_SECONDS} s")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def call(self, method: str, path: str, body=None, token: str = ""):
        """Send a JSON request; return the status and the decoded JSON body."""
        request = urllib.request.Request(
            f"{self.url}/api/v1{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, content = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, content = error.code, error.read()
        self.responses.append(content)
        return status, json.loads(content) if content else None

    def upload(self, path: str, name: str, content: bytes, token: str) -> int:
        boundary = secrets.token_hex(16)
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="{name}"\r\nContent-Type: text/plain\r\n\r\n'
            ).encode()
            + content
            + f"\r\n--{boundary}--\r\n".encode()
        )
        request = urllib.request.Request(
            f"{self.url}/api/v1{path}",
            method="POST",
            data=body,
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Authorization": f"Bearer {token}",
            },
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status

    def token(self, username: str) -> str:
        status, body = self.call(
            "POST", "/auth/token", {"username": username, "password": "demo"}
        )
        assert status == 200, body
        return body["token"]

    def snapshot_files(self) -> None:
        """Read every file now, before a clean shutdown folds the WAL into the DB."""
        for path in self.data_dir.rglob("*"):
            if path.is_file():
                self.files_while_running[path] = path.read_bytes()


def _postgres_url() -> str:
    url = os.environ.get("PROTOKOL_DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else ""


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="module")
def installation(tmp_path_factory):
    """Seed the values through a real server, stop it and return the installation."""
    root = tmp_path_factory.mktemp("leaks")
    data_dir = root / "data"
    data_dir.mkdir()
    env = {
        **os.environ,
        "PROTOKOL_DEMO": "1",
        "PROTOKOL_DEBUG": "1",
        "PROTOKOL_LOG_LEVEL": "DEBUG",
        "PROTOKOL_DATA_DIR": str(data_dir),
    }
    for name in ("PROTOKOL_MASTER_KEY_FILE", "PROTOKOL_JOURNAL_KEY_FILE"):
        env.pop(name, None)

    server_url = _postgres_url()
    database_url = ""
    if server_url:
        database = f"protokol_leaks_{secrets.token_hex(4)}"
        with psycopg.connect(server_url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{database}"')
        database_url = _with_database(server_url, database)
        env["PROTOKOL_DATABASE_URL"] = database_url
    else:
        env.pop("PROTOKOL_DATABASE_URL", None)

    site = Installation(data_dir, env, database_url)
    try:
        site.protokol("migrate", "--no-input", "-v", "0")
        site.protokol("seed-demo")
        site.start()
        seed(site)
        site.snapshot_files()
        site.stop()
        yield site
    finally:
        site.stop()
        if database_url:
            with psycopg.connect(server_url, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def seed(site: Installation) -> None:
    """Send the values through the API and check each step worked."""
    citizen = site.token("citizen")
    status, body = site.call(
        "PUT",
        "/me/identifiers",
        {
            "phone": PHONE,
            "passport": PASSPORT,
            "inn": INN,
            "snils": SNILS,
            "postal_address": ADDRESS,
        },
        citizen,
    )
    assert status == 200, body
    status, body = site.call("GET", "/me/identifiers", token=citizen)
    assert body["snils"] == "27461580389", body

    consultations = {}
    for service in ("SOC", "PAS"):
        status, body = site.call(
            "POST",
            "/consultations",
            {"service": service, "subject": "Консультация", "description": "Вопрос"},
            citizen,
        )
        assert status == 201, body
        consultations[service] = body["id"]
    social, passport = consultations["SOC"], consultations["PAS"]

    status, body = site.call(
        "PUT", f"/consultations/{social}/data", {"values": {"snils": SNILS}}, citizen
    )
    assert status == 200, body
    scan = f"Паспорт {PASSPORT}, ИНН {INN}, СНИЛС {SNILS}, тел. {PHONE}".encode()
    assert site.upload(
        f"/consultations/{social}/attachments", "скан.txt", scan, citizen
    )

    operator2 = site.token("operator2")
    status, body = site.call(
        "PUT",
        f"/consultations/{passport}/data",
        {"values": {"passport": PASSPORT}},
        operator2,
    )
    assert status == 200, body

    # Rejected requests: the invalid values must not be echoed or logged.
    status, body = site.call(
        "PUT",
        "/me/identifiers",
        {"snils": "274-615-803 88", "inn": "502731884665"},
        citizen,
    )
    assert status == 422, body
    status, body = site.call(
        "PUT",
        f"/consultations/{social}/data",
        {"values": {"snils": "274-615-803 88"}},
        citizen,
    )
    assert status == 422, body
    # A citizen may not look up, and the unchecked field must not be journaled.
    status, body = site.call(
        "POST", "/lookup", {"field": "27461580389", "value": SNILS}, citizen
    )
    assert status == 403, body

    operator = site.token("operator")
    status, body = site.call(
        "POST", "/lookup", {"field": "snils", "value": "27461580389"}, operator
    )
    assert [c["id"] for c in body["consultations"]] == [social], body
    status, body = site.call(
        "POST", "/lookup", {"field": "passport", "value": "4519731946"}, operator2
    )
    assert passport in [c["id"] for c in body["consultations"]], body
    supervisor = site.token("supervisor")
    for field_name, value in (("inn", INN), ("phone", "89164820735")):
        status, body = site.call(
            "POST", "/lookup", {"field": field_name, "value": value}, supervisor
        )
        assert len(body["citizens"]) == 1, body
    status, body = site.call("GET", f"/consultations/{social}/data", token=operator)
    assert body["values"] == {"snils": "27461580389"}, body

    sign(site, social, operator)


def sign(site: Installation, consultation_id: int, operator: str) -> None:
    """Walk the consultation to signed; the signed document is stored too."""
    path = f"/consultations/{consultation_id}"
    status, body = site.call(
        "POST", f"{path}/transitions", {"action": "take"}, operator
    )
    assert status == 200, body
    protocol = {
        "question": "Какие документы нужны?",
        "recommendations": "Подать заявление",
        "decision": "Разъяснено",
        "decision_reason": "Порядок назначения",
    }
    status, body = site.call("PUT", f"{path}/protocol", protocol, operator)
    assert status == 200, body
    status, body = site.call(
        "POST", f"{path}/transitions", {"action": "submit"}, operator
    )
    assert status == 200, body
    reviewer = site.token("reviewer")
    for action in ("approve", "sign"):
        status, body = site.call(
            "POST", f"{path}/transitions", {"action": action}, reviewer
        )
        assert status == 200, body
    assert body["status"] == "signed"


def test_data_dir_files_while_running(installation):
    files = installation.files_while_running

    assert any(path.name.startswith("protokol.sqlite3") for path in files) or (
        installation.database_url
    )
    assert any("attachments" in path.parts for path in files)
    for path, content in files.items():
        assert find_plaintext(content) == [], path


def test_data_dir_files_after_stop(installation):
    paths = [p for p in installation.data_dir.rglob("*") if p.is_file()]

    assert paths
    for path in paths:
        assert find_plaintext(path.read_bytes()) == [], path


def test_pg_dump(installation):
    if not installation.database_url:
        pytest.skip(
            "the suite runs on SQLite; PROTOKOL_DATABASE_URL selects PostgreSQL"
        )

    dump = subprocess.run(
        ["pg_dump", "--no-owner", "--dbname", installation.database_url],
        capture_output=True,
        check=True,
    ).stdout

    # The dump contains the rows, so the search can see stored data.
    assert b"collecteddata" in dump
    assert b"personal_data:lookup" in dump
    assert find_plaintext(dump) == []


def test_logs(installation):
    output = installation.log.read_bytes()

    # The log is complete: access lines, SQL and the application's events.
    assert b"PUT /api/v1/me/identifiers" in output
    assert b"INSERT INTO" in output
    assert b"collected_data_updated" in output
    assert find_plaintext(output) == []


def test_responses_do_not_echo_invalid_values(installation):
    rejected = [r for r in installation.responses if b"validation_failed" in r]

    assert len(rejected) == 2
    for response in rejected:
        assert find_plaintext(response) == []


def test_reads_return_values(installation):
    # The values went in and come out decrypted, so the searches above would
    # see them if they were stored or logged in plaintext.
    read = b"".join(installation.responses)

    assert "passport: '4519731946'" in find_plaintext(read)
    assert "snils: '27461580389'" in find_plaintext(read)
    assert "phone: '79164820735'" in find_plaintext(read)
    assert "inn: '502731884666'" in find_plaintext(read)


def test_search_finds_a_planted_value():
    # The search itself works: a stored value in any of its forms is found.
    assert "snils: '27461580389'" in find_plaintext(b"x 27461580389 y")
    assert find_plaintext("кв. 5".encode().hex().encode()) != []
    assert find_plaintext(json.dumps("Кронверкская").encode()) != []
