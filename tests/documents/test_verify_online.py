"""`protokol verify --online`: the copy's checkpoint against the live journal."""

import dataclasses
import hashlib

import pytest
from django.conf import settings
from django.core.management import load_command_class
from django.utils import translation

from protokol.consultations import services
from protokol.consultations.presenters import consultation_detail
from protokol.documents import services as documents
from protokol.journal import checkpoints, merkle
from protokol.journal.models import JournalEntry
from protokol.journal.tlog import parse_tlog_proof, tlog_proof_text

from .test_sealed_copy import failed_checks, verify

pytestmark = pytest.mark.usefixtures("english")


def tree_hash(leaves: list[bytes]) -> bytes:
    """Return MTH of RFC 6962 section 2.1 over leaf hashes."""
    if len(leaves) == 1:
        return leaves[0]
    k = merkle.split_point(len(leaves))
    return merkle.hash_children(tree_hash(leaves[:k]), tree_hash(leaves[k:]))


def audit_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """Return PATH(index, leaves) of RFC 6962 section 2.1.1."""
    if len(leaves) == 1:
        return []
    k = merkle.split_point(len(leaves))
    if index < k:
        return audit_path(index, leaves[:k]) + [tree_hash(leaves[k:])]
    return audit_path(index - k, leaves[k:]) + [tree_hash(leaves[:k])]


def forged_proof(real_proof: bytes) -> bytes:
    """Return a proof of the same entry in a rewritten history, signed by the key.

    The first entry of the journal is replaced, so the forged tree has the
    same size and includes the signing entry, but is no prefix of the journal.
    """
    index, _, note = parse_tlog_proof(real_proof.decode())
    size = checkpoints.verify_note(note, checkpoints.verifier_key()).size
    entries = JournalEntry.objects.filter(index__lt=size).order_by("index")
    leaves = [bytes.fromhex(entry.leaf_hash) for entry in entries]
    leaves[0] = hashlib.sha256(b"\x00rewritten entry").digest()

    origin = settings.CONFIG.journal_origin
    body = checkpoints.checkpoint_body(origin, size, tree_hash(leaves))
    forged_note = checkpoints.sign_note(body, checkpoints.load_signing_key(), origin)
    return tlog_proof_text(index, audit_path(index, leaves), forged_note).encode()


def test_online_passes_for_genuine_copy(sealed_path):
    passed, report = verify(sealed_path, "--online")

    assert passed, failed_checks(report)
    online = [check for check in report["checks"] if check["name"] == "journal-online"]
    assert len(online) == 1
    assert "is a prefix of the live journal" in online[0]["detail"]


def test_online_report_english_without_locale(sealed_path, monkeypatch, capsys):
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    command = load_command_class("protokol.signing", "verify")

    # Russian is the installation's language. A shell without a locale
    # still gets the English report that the rest of the command line prints.
    with translation.override("ru"):
        command.run_from_argv(["protokol", "verify", str(sealed_path), "--online"])

    output = capsys.readouterr().out
    assert "is a prefix of the live journal" in output
    assert "journal entry" in output
    assert "запись журнала" not in output


def test_online_passes_after_journal_grows(sealed_path, signed_consultation, demo):
    services.read_consultation(demo["operator"], signed_consultation.pk)
    checkpoints.issue_checkpoint()

    passed, report = verify(sealed_path, "--online")

    assert passed, failed_checks(report)


def test_offline_report_has_no_online_line(sealed_path):
    passed, report = verify(sealed_path)

    assert passed, failed_checks(report)
    assert "journal-online" not in {check["name"] for check in report["checks"]}


def sealed_with_proof(consultation, citizen, monkeypatch, path, forge) -> None:
    """Write a sealed copy whose embedded proof is `forge(genuine proof)`."""
    genuine = documents.signed_evidence

    def forged_evidence(consultation):
        evidence = genuine(consultation)
        files = tuple(
            dataclasses.replace(item, content=forge(item.content))
            if item.name == documents.PROOF_FILE
            else item
            for item in evidence.files
        )
        return dataclasses.replace(evidence, files=files)

    monkeypatch.setattr(documents, "signed_evidence", forged_evidence)
    detail = consultation_detail(consultation, citizen, public_only=True)
    path.write_bytes(documents.render_sealed_copy(consultation, detail, language="en"))


def test_forged_checkpoint_fails_online_only(
    signed_consultation, demo, tmp_path, monkeypatch
):
    path = tmp_path / "forged.pdf"
    sealed_with_proof(
        signed_consultation, demo["citizen"], monkeypatch, path, forged_proof
    )

    offline_passed, offline = verify(path)
    online_passed, online = verify(path, "--online")

    assert offline_passed, failed_checks(offline)
    assert not online_passed
    failures = failed_checks(online)
    assert set(failures) == {"journal-online"}
    assert "is not a prefix of the live journal" in failures["journal-online"]
    assert "rewritten" in failures["journal-online"]


def checkpoint_ahead(real_proof: bytes) -> bytes:
    """Return the proof with a checkpoint signed over more entries than exist."""
    index, path, _ = parse_tlog_proof(real_proof.decode())
    origin = settings.CONFIG.journal_origin
    size = JournalEntry.objects.count() + 5
    body = checkpoints.checkpoint_body(origin, size, bytes(32))
    note = checkpoints.sign_note(body, checkpoints.load_signing_key(), origin)
    return tlog_proof_text(index, path, note).encode()


def test_checkpoint_beyond_live_journal_fails(
    signed_consultation, demo, tmp_path, monkeypatch
):
    path = tmp_path / "ahead.pdf"
    sealed_with_proof(
        signed_consultation, demo["citizen"], monkeypatch, path, checkpoint_ahead
    )

    passed, report = verify(path, "--online")

    assert not passed
    assert "but the live journal has only" in failed_checks(report)["journal-online"]


@pytest.fixture
def sealed_path(signed_consultation, demo, tmp_path):
    _, content = documents.issue_copy(demo["citizen"], signed_consultation.pk)
    path = tmp_path / "sealed.pdf"
    path.write_bytes(content)
    return path
