"""`protokol journal prove` and `witness`, the latter against live servers."""

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from io import StringIO
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command, load_command_class

from journal.conftest import write_signing_key
from protokol.journal import checkpoints, merkle
from protokol.journal.models import JournalEntry

BIN = Path(sys.executable).parent
SERVER_START_SECONDS = 30


def parse_tlog_proof(text: str) -> tuple[int, list[bytes], str]:
    """Split a c2sp.org/tlog-proof@v1 file into index, hashes and checkpoint note."""
    head, _, note = text.partition("\n\n")
    lines = head.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1"
    label, index = lines[1].split(" ")
    assert label == "index"
    return int(index), [base64.b64decode(line) for line in lines[2:]], note


# -- messages


def test_public_key_error_in_english(db, tmp_path, monkeypatch, russian_catalog):
    from django.conf import settings

    missing = tmp_path / "none.pem"
    monkeypatch.setattr(settings.CONFIG, "journal_key_file", missing)
    message = (
        "Checkpoint signing key %(path)s does not exist: set "
        "PROTOKOL_JOURNAL_KEY_FILE to an Ed25519 PKCS#8 PEM file."
    )
    russian_catalog(message, "Ключа %(path)s нет.")

    with pytest.raises(CommandError) as raised:
        call_command("journal", "public-key")

    assert str(raised.value) == message % {"path": missing}


def test_verify_checkpoint_error_in_english(
    consultation, tmp_path, monkeypatch, russian_catalog
):
    from django.conf import settings

    checkpoints.issue_checkpoint()
    monkeypatch.setattr(settings.CONFIG, "data_dir", tmp_path / "other")
    message = "note carries no signature by key '%(name)s'"
    russian_catalog(message, "в заметке нет подписи ключом «%(name)s»")

    with pytest.raises(CommandError) as raised:
        call_command("journal", "verify", verbosity=0)

    name = settings.CONFIG.journal_origin
    assert message % {"name": name} in str(raised.value)


# -- prove


def test_prove_writes_verifiable_tlog_proof(consultation, tmp_path):
    checkpoint = checkpoints.issue_checkpoint()
    entry = JournalEntry.objects.get(consultation_id=consultation.pk)
    output = tmp_path / "entry.tlog-proof"

    call_command("journal", "prove", str(entry.index), "-o", str(output))

    index, proof, note = parse_tlog_proof(output.read_text())
    assert index == entry.index
    assert note == checkpoint.note
    signed = checkpoints.verify_note(note, checkpoints.verifier_key())
    assert merkle.verify_inclusion(
        index, signed.size, bytes.fromhex(entry.leaf_hash), proof, signed.root
    )


def test_prove_against_older_checkpoint(consultation):
    first = checkpoints.issue_checkpoint()
    consultation_entry = JournalEntry.objects.get(consultation_id=consultation.pk)
    from protokol.consultations import services

    services.read_consultation(consultation.citizen, consultation.pk)
    checkpoints.issue_checkpoint()
    output = StringIO()

    call_command(
        "journal",
        "prove",
        str(consultation_entry.index),
        "--size",
        str(first.size),
        stdout=output,
    )

    _, proof, note = parse_tlog_proof(output.getvalue())
    assert note == first.note
    assert merkle.verify_inclusion(
        consultation_entry.index,
        first.size,
        bytes.fromhex(consultation_entry.leaf_hash),
        proof,
        bytes.fromhex(first.root_hash),
    )


def test_prove_without_checkpoint_rejected(consultation):
    with pytest.raises(CommandError, match="No checkpoint"):
        call_command("journal", "prove", "0")


def test_prove_output_in_missing_directory_rejected(consultation, tmp_path):
    checkpoints.issue_checkpoint()
    output = tmp_path / "missing" / "proof.txt"

    with pytest.raises(CommandError, match="--output: directory .* does not exist"):
        call_command("journal", "prove", "0", "-o", str(output))


def test_prove_output_to_directory_rejected(consultation, tmp_path):
    checkpoints.issue_checkpoint()

    with pytest.raises(CommandError, match=f"--output: cannot write {tmp_path}"):
        call_command("journal", "prove", "0", "-o", str(tmp_path))


def test_prove_unknown_size_rejected(consultation):
    checkpoints.issue_checkpoint()

    with pytest.raises(CommandError, match="No checkpoint at size 999"):
        call_command("journal", "prove", "0", "--size", "999")


def test_prove_index_beyond_checkpoint_rejected(consultation):
    checkpoint = checkpoints.issue_checkpoint()

    with pytest.raises(CommandError, match="not covered by the latest checkpoint"):
        call_command("journal", "prove", str(checkpoint.size))


# -- witness against servers started here


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LogServer:
    """A migrated demo installation served by uvicorn on a loopback port."""

    def __init__(self, data_dir: Path, key_file: Path):
        self.env = {
            **os.environ,
            "PROTOKOL_DEMO": "1",
            "PROTOKOL_DATA_DIR": str(data_dir),
            "PROTOKOL_JOURNAL_KEY_FILE": str(key_file),
        }
        self.env.pop("PROTOKOL_DATABASE_URL", None)
        self.data_dir = data_dir
        self.process = None
        self.url = ""
        for command in (["migrate", "--no-input", "-v", "0"], ["seed-demo"]):
            self.protokol(*command)

    def protokol(self, *arguments: str) -> str:
        result = subprocess.run(
            [BIN / "protokol", *arguments],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout

    def start(self) -> None:
        port = _free_port()
        log = self.data_dir / "uvicorn.log"
        with log.open("wb") as log_file:
            self.process = subprocess.Popen(
                [
                    BIN / "uvicorn",
                    "protokol.asgi:application",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"uvicorn exited:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1):
                    return
            except OSError:
                # Refused before uvicorn listens; timed out while it starts
                # on a busy machine. URLError is an OSError too.
                time.sleep(0.2)
        pytest.fail(f"uvicorn did not answer {self.url} in {SERVER_START_SECONDS} s")

    def add_entries(self, count: int) -> None:
        """Append entries over HTTP: each rejected sign-in is journaled."""
        for _ in range(count):
            request = urllib.request.Request(
                f"{self.url}/api/v1/auth/token",
                data=json.dumps({"username": "nobody", "password": "x"}).encode(),
                headers={"Content-Type": "application/json"},
            )
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(request, timeout=10)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def servers(tmp_path):
    """Start-on-demand log servers that share one signing key; stop them after."""
    key_file = write_signing_key(tmp_path / "log.pem")
    started = []

    def start(name: str) -> LogServer:
        data_dir = tmp_path / name
        data_dir.mkdir()
        server = LogServer(data_dir, key_file)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def run_witness(url: str, state: Path, key: str | None = None) -> str:
    arguments = ["journal", "witness", url, "--state", str(state)]
    if key is not None:
        arguments += ["--key", key]
    output = StringIO()
    call_command(*arguments, stdout=output)
    return output.getvalue()


def test_witness_accepts_growth_and_detects_rewrite(servers, tmp_path):
    honest = servers("honest")
    honest.protokol("journal", "checkpoint")
    key = honest.protokol("journal", "public-key").strip()
    honest.start()
    state = tmp_path / "witness.json"

    first = run_witness(honest.url, state, key)
    assert "first checkpoint accepted" in first
    accepted_size = json.loads(state.read_text())["size"]

    honest.add_entries(3)
    honest.protokol("journal", "checkpoint")
    second = run_witness(honest.url, state)
    assert f"consistent with the accepted size {accepted_size}" in second
    grown = json.loads(state.read_text())["size"]
    assert grown == accepted_size + 3

    # A second installation with its own history, signed with the same key.
    rewritten = servers("rewritten")
    rewritten.start()
    rewritten.add_entries(6)
    rewritten.protokol("journal", "checkpoint")
    with pytest.raises(CommandError, match="fork or rewrite"):
        run_witness(rewritten.url, state)
    assert json.loads(state.read_text())["size"] == grown


def test_witness_rejects_checkpoint_of_other_key(servers, tmp_path):
    server = servers("log")
    server.protokol("journal", "checkpoint")
    server.start()
    other = Ed25519PrivateKey.generate().public_key()
    public = other.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    name = "protokol.local/journal"
    forged_key = checkpoints.VerifierKey(
        name=name, key_id=checkpoints.key_id(name, public), public_key=public
    )
    state = tmp_path / "witness.json"

    with pytest.raises(CommandError, match="possibly forged"):
        run_witness(server.url, state, str(forged_key))
    assert not state.exists()


def test_witness_rejects_rollback(servers, tmp_path):
    server = servers("log")
    server.protokol("journal", "checkpoint")
    key = server.protokol("journal", "public-key").strip()
    server.start()
    state = tmp_path / "witness.json"
    run_witness(server.url, state, key)
    saved = json.loads(state.read_text())
    state.write_text(json.dumps({**saved, "size": saved["size"] + 10}))

    with pytest.raises(CommandError, match="rollback"):
        run_witness(server.url, state)


def test_witness_without_key_rejected(tmp_path):
    with pytest.raises(CommandError, match="no verifier key"):
        run_witness("http://127.0.0.1:9", tmp_path / "missing.json")


def test_verify_takes_common_options_after_subcommand(consultation):
    out = StringIO()

    call_command("journal", "verify", "-v", "0", "--traceback", stdout=out)

    assert out.getvalue().startswith("Journal OK: ")


def test_verbosity_before_subcommand_kept(consultation):
    command = load_command_class("protokol.journal", "journal")
    parser = command.create_parser("protokol", "journal")

    before = parser.parse_args(["-v", "0", "verify"])
    after = parser.parse_args(["verify", "-v", "2"])
    neither = parser.parse_args(["verify"])

    assert before.verbosity == 0
    assert after.verbosity == 2
    assert neither.verbosity == 1
    assert neither.traceback is False
