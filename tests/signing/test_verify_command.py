"""`protokol verify`: export a bundle, then check it without the database."""

import io
import json
import re
import zipfile

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from consultations.factories import consultation_in
from protokol.consultations.models import Status
from protokol.journal import checkpoints
from protokol.journal.models import JournalEntry

from .conftest import openssl

# These tests read the English messages of the CLI and the reports.
pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def bundle(demo, pki_dir, tmp_path):
    """The exported zip of a consultation signed under a checkpoint."""
    consultation = consultation_in(demo, Status.SIGNED)
    checkpoints.issue_checkpoint()
    path = tmp_path / "bundle.zip"
    call_command(
        "verify", export=[str(consultation.pk), str(path)], stderr=io.StringIO()
    )
    return path


def run_verify(*args, **options) -> tuple[str, CommandError | None]:
    out = io.StringIO()
    try:
        call_command("verify", *map(str, args), stdout=out, **options)
    except CommandError as error:
        return out.getvalue(), error
    return out.getvalue(), None


def unpack(path, directory):
    with zipfile.ZipFile(path) as archive:
        archive.extractall(directory)
    return directory


def test_export_contains_bundle_files(bundle):
    names = set(zipfile.ZipFile(bundle).namelist())

    assert {"document.json", "root.pem", "crl.pem", "proof.txt", "entry.json"} <= names
    assert "journal.pub" in names
    assert len([name for name in names if name.endswith(".p7s")]) == 2


def test_verify_zip_passes_without_database(bundle, django_db_blocker):
    with django_db_blocker.block():
        output, error = run_verify(bundle)

    assert error is None, output
    assert output.count("PASS") == 6
    assert "FAIL" not in output
    assert "journal entry" in output


def test_verify_json_report(bundle, tmp_path, root_pem):
    directory = unpack(bundle, tmp_path / "bundle")

    output, error = run_verify(directory, "--json", "--root", root_pem)

    report = json.loads(output)
    assert error is None
    assert report["ok"] is True
    assert report["checks"][1]["detail"].endswith(
        "SHA-256 fingerprint " + report["checks"][1]["detail"].split()[-1]
    )
    assert str(root_pem) in report["checks"][1]["detail"]


def test_exported_p7s_accepted_by_openssl(bundle, tmp_path, root_pem):
    directory = unpack(bundle, tmp_path / "bundle")

    for signature in sorted(directory.glob("*.p7s")):
        result = openssl(
            "cms", "-verify", "-binary", "-inform", "DER", "-in", signature,
            "-content", directory / "document.json", "-CAfile", root_pem,
            "-purpose", "any", "-out", tmp_path / "out.bin",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr.decode()


def test_verify_changed_document_fails(bundle, tmp_path):
    directory = unpack(bundle, tmp_path / "bundle")
    document = directory / "document.json"
    document.write_bytes(document.read_bytes().replace(b'"version":1', b'"version":2'))

    output, error = run_verify(directory)

    assert error is not None
    assert "FAIL seal-" in output
    assert "message digest does not match" in output
    assert "FAIL proof.txt: journal entry" in output


def test_verify_other_root_untrusted(bundle, tmp_path):
    from protokol.signing.verify import ChainStatus

    directory = unpack(bundle, tmp_path / "bundle")
    other = tmp_path / "other"
    other.mkdir()
    # A root from an unrelated PKI: any self-signed certificate will do.
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-subj", "/CN=Other", "-keyout", other / "key.pem",
        "-out", other / "root.pem", "-days", "1",
    )  # fmt: skip

    output, error = run_verify(directory, "--root", other / "root.pem")

    assert error is not None
    assert f"chain {ChainStatus.UNTRUSTED}" in output


def test_verify_wrong_key_fails(bundle, tmp_path):
    directory = unpack(bundle, tmp_path / "bundle")
    key = checkpoints.VerifierKey("other.example/log", b"\0" * 4, b"\1" * 32)

    output, error = run_verify(directory, "--key", str(key))

    assert error is not None
    assert "FAIL proof.txt" in output


def test_verify_proof_without_key_fails(bundle, tmp_path):
    directory = unpack(bundle, tmp_path / "bundle")
    (directory / "journal.pub").unlink()

    output, error = run_verify(directory)

    assert "FAIL proof.txt: no verifier key" in output
    assert error is not None


def test_verify_missing_bundle_rejected(tmp_path):
    missing = tmp_path / "missing.zip"

    with pytest.raises(CommandError, match=re.escape(f"File {missing} does not exist")):
        call_command("verify", str(missing))


def test_verify_text_file_rejected(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a bundle")

    with pytest.raises(CommandError, match="neither a directory nor a zip"):
        call_command("verify", str(path))


def test_verify_directory_as_root_rejected(bundle, tmp_path):
    with pytest.raises(
        CommandError, match=re.escape(f"--root {tmp_path} is not a file")
    ):
        call_command("verify", str(bundle), "--root", str(tmp_path))


def test_verify_invalid_root_rejected(bundle, tmp_path):
    root = tmp_path / "root.pem"
    root.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n")

    with pytest.raises(CommandError) as raised:
        call_command("verify", str(bundle), "--root", str(root))

    message = str(raised.value)
    assert f"--root {root} is not a PEM or DER certificate" in message
    assert "ParseError" not in message


@pytest.mark.parametrize("name", ["copy.pdf", "bundle"])
def test_verify_missing_root_rejected(tmp_path, name):
    target = tmp_path / name
    if name.endswith(".pdf"):
        target.write_bytes(b"%PDF-1.7\n")
    else:
        target.mkdir()
    root = tmp_path / "missing-root.pem"

    with pytest.raises(CommandError, match=re.escape(f"File {root} does not exist")):
        call_command("verify", str(target), "--root", str(root))


def test_export_unsigned_consultation_rejected(demo, pki_dir, tmp_path):
    consultation = consultation_in(demo, Status.APPROVED)

    with pytest.raises(CommandError, match="has no signatures"):
        call_command("verify", export=[str(consultation.pk), str(tmp_path / "b.zip")])


def test_export_non_numeric_id_rejected(tmp_path):
    with pytest.raises(CommandError, match="--export: consultation id 'abc'"):
        call_command("verify", export=["abc", str(tmp_path / "b.zip")])


def test_export_missing_output_directory_rejected(demo, pki_dir, tmp_path):
    consultation = consultation_in(demo, Status.SIGNED)
    output = tmp_path / "missing" / "b.zip"

    with pytest.raises(CommandError, match="directory .*missing does not exist"):
        call_command("verify", export=[str(consultation.pk), str(output)])
    assert not output.exists()


def test_export_to_directory_rejected(demo, pki_dir, tmp_path):
    consultation = consultation_in(demo, Status.SIGNED)
    before = JournalEntry.objects.count()

    with pytest.raises(CommandError, match=f"--export: {tmp_path} is a directory"):
        call_command("verify", export=[str(consultation.pk), str(tmp_path)])
    assert JournalEntry.objects.count() == before


def test_export_write_failure_names_path(demo, pki_dir, tmp_path, monkeypatch):
    consultation = consultation_in(demo, Status.SIGNED)
    output = tmp_path / "b.zip"

    def fail(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(zipfile.ZipFile, "__init__", fail)
    with pytest.raises(
        CommandError, match=f"--export: writing {output} failed: Permission denied"
    ):
        call_command("verify", export=[str(consultation.pk), str(output)])


def test_verify_key_file_content_not_echoed(bundle, tmp_path):
    directory = unpack(bundle, tmp_path / "bundle")
    secret = "x" * 30 + "SECRET-TAIL-" + "y" * 200
    key_file = tmp_path / "notes.txt"
    key_file.write_text(f"{secret}\n")

    output, error = run_verify(directory, "--key", str(key_file))

    assert error is not None
    assert "FAIL proof.txt" in output
    assert "SECRET-TAIL" not in output
