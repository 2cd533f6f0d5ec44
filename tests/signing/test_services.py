"""sign_protocol: the signer's signature and the seal over the protocol document."""

import hashlib
import json

import pytest
import rfc8785
from django.db import DatabaseError, transaction

from consultations.factories import consultation_in, upload
from protokol.consultations import services as consultations
from protokol.consultations.attachments import add_attachment
from protokol.consultations.models import Status
from protokol.protocols.services import latest_version
from protokol.signing import crl, pki
from protokol.signing.document import protocol_document
from protokol.signing.models import Signature, SignatureKind
from protokol.signing.services import sign_protocol, signature_summary

from .conftest import openssl


@pytest.fixture
def approved(demo, pki_dir):
    """An approved consultation with a message and an attachment."""
    consultation = consultation_in(demo, Status.DRAFTING)
    consultations.add_message(
        demo["operator"], consultation.pk, text="Уточните дату", visibility="public"
    )
    add_attachment(demo["operator"], consultation.pk, upload())
    for username, action in (("operator", "submit"), ("reviewer", "approve")):
        consultations.transition(demo[username], consultation.pk, action=action)
    consultation.refresh_from_db()
    return consultation


def sign(consultation, actor):
    with transaction.atomic():
        return sign_protocol(consultation, latest_version(consultation), actor)


def test_reviewer_and_seal_signatures(approved, demo, tmp_path, root_pem):
    signatures = sign(approved, demo["reviewer"])
    document = protocol_document(approved, latest_version(approved))
    (tmp_path / "data.bin").write_bytes(document)

    assert [s.kind for s in signatures] == [SignatureKind.SIGNER, SignatureKind.SEAL]
    assert signatures[0].signer_name == demo["reviewer"].display_name
    for signature in signatures:
        (tmp_path / "sig.der").write_bytes(bytes(signature.cms))
        result = openssl(
            "cms", "-verify", "-binary", "-inform", "DER",
            "-in", tmp_path / "sig.der", "-content", tmp_path / "data.bin",
            "-CAfile", root_pem, "-purpose", "any", "-out", tmp_path / "out.bin",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr.decode()
        assert bytes(signature.document) == document
        assert signature.signed_data_sha256 == hashlib.sha256(document).hexdigest()
        assert signature.timestamp_time is not None
        assert signature.protocol_version == latest_version(approved).version


def test_changed_document_fails_openssl(approved, demo, tmp_path, root_pem):
    seal = sign(approved, demo["reviewer"])[1]
    changed = bytes(seal.document).replace("Разъяснено".encode(), "Отказано".encode())
    (tmp_path / "data.bin").write_bytes(changed)
    (tmp_path / "sig.der").write_bytes(bytes(seal.cms))

    result = openssl(
        "cms", "-verify", "-binary", "-inform", "DER", "-in", tmp_path / "sig.der",
        "-content", tmp_path / "data.bin", "-CAfile", root_pem, "-purpose", "any",
    )  # fmt: skip

    assert changed != bytes(seal.document)
    assert result.returncode != 0


def test_actor_without_certificate_only_seal(approved, demo):
    # No test issues a certificate to the auditor.
    signatures = sign(approved, demo["auditor"])

    assert [s.kind for s in signatures] == [SignatureKind.SEAL]
    seal = pki.organisation_identity("seal").certificate
    assert signatures[0].certificate_serial == pki.serial_hex(seal)


def test_revoked_certificate_only_seal(approved, demo):
    pki.issue_user_certificate(demo["supervisor"])
    crl.revoke(pki.user_certificate("supervisor"), "key_compromise")

    signatures = sign(approved, demo["supervisor"])

    assert [s.kind for s in signatures] == [SignatureKind.SEAL]


def test_signature_update_rejected(approved, demo):
    sign(approved, demo["reviewer"])

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Signature.objects.update(signer_name="someone else")


def test_signature_delete_rejected(approved, demo):
    sign(approved, demo["reviewer"])

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Signature.objects.all().delete()


def test_summary_has_ids_and_hashes(approved, demo):
    signatures = sign(approved, demo["reviewer"])

    summary = signature_summary(signatures)

    assert [item["id"] for item in summary] == [s.pk for s in signatures]
    assert summary[1]["kind"] == "seal"
    assert len(summary[1]["signed_data_sha256"]) == 64


def test_document_is_canonical_json(approved):
    document = protocol_document(approved, latest_version(approved))

    parsed = json.loads(document)

    assert rfc8785.dumps(parsed) == document
    assert parsed["consultation"]["number"] == approved.number
    assert parsed["protocol"]["decision"] == "Разъяснено"


def test_document_hashes_messages_and_attachments(approved):
    parsed = json.loads(protocol_document(approved, latest_version(approved)))
    message = approved.messages.get(text="Уточните дату")
    attachment = approved.attachments.get()

    hashes = {item["id"]: item["sha256"] for item in parsed["messages"]}
    assert hashes[message.pk] == hashlib.sha256("Уточните дату".encode()).hexdigest()
    assert "Уточните дату" not in json.dumps(parsed, ensure_ascii=False)
    assert parsed["attachments"][0]["sha256"] == attachment.sha256
    assert parsed["attachments"][0]["size"] == attachment.size
