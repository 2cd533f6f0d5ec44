"""Change one stored field behind the services' back and show who detects it.

Each test edits the database directly, past the append-only triggers where a
table has them, and expects `journal verify`, the signatures report or
`protokol verify` to fail and name the changed object.
"""

import io

import pytest
from asn1crypto import cms
from django.core.management import call_command
from django.core.management.base import CommandError

from protokol.consultations.models import Attachment, Message
from protokol.documents import services as documents
from protokol.journal.models import Checkpoint, JournalEntry, JournalPayload
from protokol.protocols.models import ProtocolVersion
from protokol.signing.models import Signature
from protokol.signing.reports import signature_reports

from .conftest import triggers_removed

# These tests read the English messages of the CLI and the reports.
pytestmark = pytest.mark.usefixtures("english")


def signing_entry(consultation) -> JournalEntry:
    return JournalEntry.objects.get(
        consultation_id=consultation.pk, after__action="sign"
    )


def seal(consultation) -> Signature:
    return Signature.objects.get(consultation=consultation, kind="seal")


def seal_report(consultation):
    reports = signature_reports(consultation)
    return next(report for report in reports if report.signature.kind == "seal")


def journal_verify_error() -> str:
    with pytest.raises(CommandError) as raised:
        call_command("journal", "verify", verbosity=0, stdout=io.StringIO())
    return str(raised.value)


def bundle_verify_output(consultation, tmp_path) -> tuple[str, bool]:
    """Export the consultation's bundle, verify it; return the report and success."""
    path = tmp_path / "bundle.zip"
    call_command(
        "verify", export=[str(consultation.pk), str(path)], stderr=io.StringIO()
    )
    out = io.StringIO()
    try:
        call_command("verify", str(path), stdout=out)
    except CommandError:
        return out.getvalue(), False
    return out.getvalue(), True


def test_untouched_signed_consultation_passes(signed, tmp_path):
    call_command("journal", "verify", verbosity=0, stdout=io.StringIO())
    reports = signature_reports(signed)
    output, passed = bundle_verify_output(signed, tmp_path)

    assert [report.problems for report in reports] == [[], []]
    assert passed, output


def test_journal_entry_changed_detected(signed):
    entry = signing_entry(signed)

    with triggers_removed("journal_entry"):
        JournalEntry.objects.filter(index=entry.index).update(
            after={**entry.after, "comment": "подписано задним числом"}
        )
        error = journal_verify_error()
        report = seal_report(signed)

    # The comment of a format 2 entry belongs in its payload, so a comment in
    # the stored header is rejected before any hash is compared.
    assert error == (
        f"Journal entry {entry.index}: payload member stored in the header, "
        "outside the leaf hash."
    )
    assert report.inclusion is None
    assert f"journal entry {entry.index} does not match its leaf hash" in (
        " ".join(report.problems)
    )
    assert f"journal entry {entry.index} is not included" in report.inclusion_reason


JOURNAL_FILES = {documents.ENTRY_FILE, documents.PROOF_FILE, documents.JOURNAL_KEY_FILE}


def file_names(evidence) -> set[str]:
    return {item.name for item in evidence.files}


def test_untouched_copy_evidence_has_proof(signed, django_assert_num_queries):
    stored = Signature.objects.filter(consultation=signed)
    # The first call issues the CRL when this session has none yet.
    first = documents.signed_evidence(signed)

    # Signatures, journal entries with their payloads, the latest checkpoint
    # and the proof's Merkle nodes, which the signer's and the seal's
    # signatures share.
    with django_assert_num_queries(4):
        evidence = documents.signed_evidence(signed)

    assert evidence == first
    assert evidence.journal_facts is not None
    assert evidence.journal_facts.index == signing_entry(signed).index
    assert [facts.kind for facts in evidence.signatures] == ["signer", "seal"]
    assert file_names(evidence) == JOURNAL_FILES | {
        documents.DOCUMENT_FILE,
        *(f"protocol.{row.kind}-{row.pk}.p7s" for row in stored),
    }


def test_journal_entry_changed_copy_without_proof(signed):
    entry = signing_entry(signed)
    before = documents.signed_evidence(signed)

    with triggers_removed("journal_entry"):
        JournalEntry.objects.filter(index=entry.index).update(
            after={**entry.after, "comment": "подписано задним числом"}
        )
        after = documents.signed_evidence(signed)

    assert before.journal_facts is not None
    assert after.journal_facts is None
    assert file_names(after) == file_names(before) - JOURNAL_FILES
    assert after.signatures == before.signatures


def test_journal_payload_changed_copy_without_proof(signed):
    entry = signing_entry(signed)
    payload = JournalPayload.objects.get(entry_id=entry.index)
    forged = {**payload.body, "actor_name": "Другой проверяющий"}
    before = documents.signed_evidence(signed)

    with triggers_removed("journal_payload"):
        JournalPayload.objects.filter(entry_id=entry.index).update(body=forged)
        after = documents.signed_evidence(signed)
        report = seal_report(signed)

    assert before.journal_facts is not None
    assert after.journal_facts is None
    assert file_names(after) == file_names(before) - JOURNAL_FILES
    assert report.inclusion is None
    assert f"journal entry {entry.index} does not match its leaf hash" in (
        " ".join(report.problems)
    )


def test_protocol_text_changed_detected(signed):
    version = ProtocolVersion.objects.get(consultation=signed)
    ProtocolVersion.objects.filter(pk=version.pk).update(decision="Отказано")

    report = seal_report(signed)

    assert report.document_matches is False
    assert report.differences == ["protocol.decision"]
    assert report.cms.ok
    assert (
        f"signature {report.signature.pk}: the consultation no longer"
        in (report.problems[0])
    )


def test_message_text_changed_detected(signed):
    message = Message.objects.get(consultation=signed)
    Message.objects.filter(pk=message.pk).update(text="Дата не нужна")

    report = seal_report(signed)

    assert report.document_matches is False
    assert report.differences == [f"messages[id={message.pk}].sha256"]
    assert f"messages[id={message.pk}].sha256" in report.problems[0]


def test_message_change_not_seen_by_journal(signed):
    # The journal stores only the message's length, so only the signed
    # document can show a change of its text.
    message = Message.objects.get(consultation=signed)
    Message.objects.filter(pk=message.pk).update(text="Уточните время")

    call_command("journal", "verify", verbosity=0, stdout=io.StringIO())

    assert seal_report(signed).document_matches is False


def test_attachment_hash_changed_detected(signed):
    attachment = Attachment.objects.get(consultation=signed)
    Attachment.objects.filter(pk=attachment.pk).update(sha256="0" * 64)

    report = seal_report(signed)

    assert report.document_matches is False
    assert report.differences == [f"attachments[id={attachment.pk}].sha256"]


def test_signature_cms_changed_detected(signed, tmp_path):
    stored = seal(signed)
    der = bytearray(stored.cms)
    value = cms.ContentInfo.load(bytes(der))["content"]["signer_infos"][0]
    position = bytes(der).find(value["signature"].native) + 10
    der[position] ^= 0x01

    with triggers_removed("signing_signature"):
        Signature.objects.filter(pk=stored.pk).update(cms=bytes(der))
        report = seal_report(signed)
        output, passed = bundle_verify_output(signed, tmp_path)

    assert report.cms.signature_valid is False
    assert report.cms.timestamp_valid is False
    assert (
        f"signature {stored.pk}: the signature value does not verify"
        in (report.problems)[0]
    )
    assert not passed
    assert f"FAIL seal-{stored.pk}.p7s" in output


def test_signed_document_changed_detected(signed, tmp_path):
    stored = seal(signed)
    changed = bytes(stored.document).replace("Разъяснено".encode(), "Отказано".encode())

    with triggers_removed("signing_signature"):
        Signature.objects.filter(pk=stored.pk).update(document=changed)
        report = seal_report(signed)
        with pytest.raises(CommandError) as raised:
            bundle_verify_output(signed, tmp_path)

    assert changed != bytes(stored.document)
    assert report.stored_hash_matches is False
    assert report.cms.signature_valid is False
    assert report.document_matches is True
    assert any(
        f"signature {stored.pk}: the stored document" in p for p in report.problems
    )
    assert f"signature {stored.pk}" in str(raised.value)


def test_checkpoint_note_changed_detected(signed):
    checkpoint = Checkpoint.objects.order_by("-id").first()
    lines = checkpoint.note.split("\n")
    lines[1] = str(int(lines[1]) - 1)

    with triggers_removed("journal_checkpoint"):
        Checkpoint.objects.filter(pk=checkpoint.pk).update(note="\n".join(lines))
        error = journal_verify_error()
        report = seal_report(signed)

    assert error.startswith(f"Journal: checkpoint {checkpoint.pk}:")
    assert "does not verify" in error
    assert report.inclusion is None
    assert f"checkpoint {checkpoint.pk} does not verify" in report.inclusion_reason


def test_checkpoint_timestamp_changed_detected(signed):
    checkpoint = Checkpoint.objects.order_by("-id").first()
    token = bytearray(checkpoint.timestamp_token)
    token[-10] ^= 0x01

    with triggers_removed("journal_checkpoint"):
        Checkpoint.objects.filter(pk=checkpoint.pk).update(timestamp_token=bytes(token))
        error = journal_verify_error()

    assert error.startswith(f"Checkpoint {checkpoint.pk}:")
