"""check_cms, chain_status and document_differences, without the HTTP layer."""

import datetime
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from protokol.journal.tlog import parse_tlog_proof, tlog_proof_text
from protokol.signing import crl, pki
from protokol.signing.signers import SoftwareSigner
from protokol.signing.verify import (
    ChainStatus,
    chain_status,
    check_cms,
    document_differences,
)

from .conftest import REVIEWER

# These tests read the English messages of the CLI and the reports.
pytestmark = pytest.mark.usefixtures("english")

DOCUMENT = b'{"format":"protokol.protocol/v1"}'


@pytest.fixture
def seal_cms(pki_dir) -> bytes:
    return SoftwareSigner().sign(DOCUMENT, pki.organisation_identity("seal")).cms


def other_root() -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Other root")])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def test_check_cms_valid_seal(seal_cms):
    check = check_cms(seal_cms, DOCUMENT, [pki.root_certificate()])

    assert check.ok, check.problems
    assert check.signature_valid
    assert check.signing_certificate_matches
    assert check.timestamp_valid
    assert check.chain_status == ChainStatus.VALID
    assert check.timestamp_time is not None


def test_check_cms_other_document_invalid(seal_cms):
    check = check_cms(seal_cms, DOCUMENT + b" ", [pki.root_certificate()])

    assert not check.signature_valid
    assert "message digest does not match" in check.problems[0]


def test_check_cms_other_root_untrusted(seal_cms):
    check = check_cms(seal_cms, DOCUMENT, [other_root()])

    assert check.chain_status == ChainStatus.UNTRUSTED
    assert not check.timestamp_valid
    assert check.signature_valid


def test_check_cms_not_der(pki_dir):
    check = check_cms(b"\x30\x03abc", DOCUMENT, [pki.root_certificate()])

    assert not check.ok
    assert "not valid DER" in check.problems[0]


def test_check_cms_revoked_signer(db, pki_dir):
    user = type(REVIEWER)(pk=0, username="revoked-signer", display_name="Отозванный")
    pki.issue_user_certificate(user)
    cms = SoftwareSigner().sign(DOCUMENT, pki.user_identity("revoked-signer")).cms
    crl.revoke(pki.user_certificate("revoked-signer"), "key_compromise")

    check = check_cms(cms, DOCUMENT, [pki.root_certificate()], crl.current_crl())

    assert check.chain_status == ChainStatus.REVOKED
    assert "revoked" in check.problems[-1]


def test_chain_status_expired_after_validity(pki_dir):
    seal = pki.organisation_identity("seal").certificate
    later = seal.not_valid_after_utc + datetime.timedelta(days=1)

    assert chain_status(seal, [pki.root_certificate()], None, later) == "expired"


def test_chain_status_before_validity_expired(pki_dir):
    seal = pki.organisation_identity("seal").certificate
    earlier = seal.not_valid_before_utc - datetime.timedelta(days=1)

    # The root is valid from the same minute, so the chain is untrusted then.
    assert chain_status(seal, [pki.root_certificate()], None, earlier) == "untrusted"


def test_document_differences_name_items():
    signed = {
        "format": "f",
        "protocol": {"decision": "Разъяснено", "version": 1},
        "messages": [{"id": 1, "sha256": "aa"}, {"id": 2, "sha256": "bb"}],
        "attachments": [{"id": 5, "sha256": "cc"}],
    }
    current = json.loads(json.dumps(signed))
    current["protocol"]["decision"] = "Отказано"
    current["messages"][1]["sha256"] = "00"
    current["attachments"] = []

    differences = document_differences(
        json.dumps(signed).encode(), json.dumps(current).encode()
    )

    assert differences == [
        "protocol.decision",
        "messages[id=2].sha256",
        "attachments[id=5] removed",
    ]


def test_tlog_proof_round_trip():
    text = tlog_proof_text(3, [b"\x01" * 32, b"\x02" * 32], "origin\n4\nroot\n")

    assert parse_tlog_proof(text) == (
        3,
        [b"\x01" * 32, b"\x02" * 32],
        "origin\n4\nroot\n",
    )


def test_tlog_proof_bad_header_rejected():
    with pytest.raises(ValueError, match="c2sp.org/tlog-proof@v1"):
        parse_tlog_proof("something else\nindex 1\n\nnote\n")
