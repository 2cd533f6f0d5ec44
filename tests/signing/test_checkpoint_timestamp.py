"""Each journal checkpoint carries an RFC 3161 token that openssl accepts."""

import io

from django.core.management import call_command
from django.test import Client

from protokol.journal import checkpoints
from protokol.journal.services import record_now

from .conftest import openssl


def _grow_journal():
    record_now("journal:read", actor=None, object_type="journal", object_id=0, after={})


def test_checkpoint_token_verifies_with_openssl(db, pki_dir, root_pem, tmp_path):
    _grow_journal()

    checkpoint = checkpoints.issue_checkpoint()

    note = tmp_path / "checkpoint.txt"
    note.write_bytes(checkpoint.note.encode())
    token = tmp_path / "checkpoint.tsr"
    token.write_bytes(bytes(checkpoint.timestamp_token))
    result = openssl(
        "ts", "-verify", "-in", token, "-token_in", "-data", note,
        "-CAfile", root_pem, "-untrusted", pki_dir / "tsa.pem",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()


def test_journal_verify_reports_the_timestamp(db, pki_dir):
    _grow_journal()
    checkpoints.issue_checkpoint()
    out = io.StringIO()

    call_command("journal", "verify", verbosity=0, stdout=out)

    assert ", timestamped at " in out.getvalue()


def test_api_serves_the_checkpoint_token(db, pki_dir):
    _grow_journal()
    checkpoint = checkpoints.issue_checkpoint()

    response = Client().get(
        f"/api/v1/journal/checkpoints/{checkpoint.size}/timestamp.tsr"
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/timestamp-reply"
    assert response.content == bytes(checkpoint.timestamp_token)


def test_api_names_a_size_without_a_checkpoint(db, pki_dir):
    response = Client().get("/api/v1/journal/checkpoints/999999/timestamp.tsr")

    assert response.status_code == 404
    assert "999999" in response.json()["message"]
