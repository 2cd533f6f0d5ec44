"""GET /api/v1/consultations/{id}/signatures and the signature downloads."""

import hashlib

import pytest

from consultations.factories import consultation_in
from protokol.consultations.models import Status
from protokol.journal import checkpoints, merkle
from protokol.journal.models import JournalEntry
from protokol.signing.models import Signature

from .conftest import openssl

BASE = "/api/v1/consultations"


@pytest.fixture
def signed(demo, pki_dir):
    """A consultation signed by the reviewer and the seal, under a checkpoint."""
    consultation = consultation_in(demo, Status.SIGNED)
    # The test transaction never commits, so the checkpoint that signing
    # schedules after the commit is issued here.
    checkpoints.issue_checkpoint()
    return consultation


def test_signatures_report_valid(signed, api_client, demo):
    response = api_client.login("reviewer").get(f"{BASE}/{signed.pk}/signatures")

    assert response.status_code == 200, response.content
    items = response.json()
    assert [item["kind"] for item in items] == ["signer", "seal"]
    for item in items:
        assert item["valid"] is True, item["problems"]
        assert item["chain_status"] == "valid"
        assert item["cms_valid"] is True
        assert item["signing_certificate_matches"] is True
        assert item["timestamp_valid"] is True
        assert item["document_matches"] is True
        assert item["signing_time"].endswith("Z")
    assert items[0]["signer_name"] == demo["reviewer"].display_name
    assert "UID=reviewer" in items[0]["certificate_subject"]


def test_signatures_inclusion_proof_verifies(signed, api_client):
    items = api_client.login("citizen").get(f"{BASE}/{signed.pk}/signatures").json()
    journal = items[0]["journal"]
    entry = JournalEntry.objects.get(index=journal["index"])
    inclusion = journal["inclusion"]

    assert entry.action == "consultation:transition"
    assert entry.after["action"] == "sign"
    assert journal["reason"] is None
    assert merkle.verify_inclusion(
        inclusion["index"],
        inclusion["checkpoint_size"],
        bytes.fromhex(entry.leaf_hash),
        [bytes.fromhex(node) for node in inclusion["hashes"]],
        bytes.fromhex(inclusion["root"]),
    )
    assert inclusion["checkpoint"] == checkpoints.latest_checkpoint().note


def test_signatures_without_checkpoint_reason(demo, pki_dir, api_client):
    consultation = consultation_in(demo, Status.SIGNED)

    items = api_client.login("reviewer").get(f"{BASE}/{consultation.pk}/signatures")

    journal = items.json()[0]["journal"]
    assert journal["index"] is not None
    assert journal["inclusion"] is None
    assert "ещё не входит ни в одну подписанную контрольную точку" in journal["reason"]


def test_signatures_hidden_from_other_citizen(signed, api_client, demo):
    from protokol.accounts.models import Role, User

    other = User.objects.create_user(
        username="other", password="demo", role=Role.CITIZEN
    )
    client = api_client.login(other.username)

    for path in ("signatures", "signatures/1.p7s", "signatures/1/document"):
        response = client.get(f"{BASE}/{signed.pk}/{path}")
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"


def test_signatures_require_authentication(signed, client):
    response = client.get(f"{BASE}/{signed.pk}/signatures")

    assert response.status_code == 401


def test_p7s_download_verifies_with_openssl(signed, api_client, tmp_path, root_pem):
    seal = Signature.objects.get(consultation=signed, kind="seal")
    client = api_client.login("reviewer")

    cms = client.get(f"{BASE}/{signed.pk}/signatures/{seal.pk}.p7s")
    document = client.get(f"{BASE}/{signed.pk}/signatures/{seal.pk}/document")

    assert cms.status_code == 200
    assert cms["Content-Type"] == "application/pkcs7-signature"
    assert cms["Content-Disposition"].startswith("attachment;")
    assert document["Content-Type"] == "application/json"
    assert hashlib.sha256(document.content).hexdigest() == seal.signed_data_sha256
    (tmp_path / "sig.p7s").write_bytes(cms.content)
    (tmp_path / "document.json").write_bytes(document.content)
    result = openssl(
        "cms", "-verify", "-binary", "-inform", "DER", "-in", tmp_path / "sig.p7s",
        "-content", tmp_path / "document.json", "-CAfile", root_pem,
        "-purpose", "any", "-out", tmp_path / "out.bin",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()


def test_signature_of_other_consultation_not_found(signed, demo, api_client):
    other = consultation_in(demo, Status.INITIATED)
    seal = Signature.objects.get(consultation=signed, kind="seal")

    response = api_client.login("reviewer").get(
        f"{BASE}/{other.pk}/signatures/{seal.pk}.p7s"
    )

    assert response.status_code == 404
    assert response.json()["field"] == "signature_id"


def test_signatures_empty_before_signing(demo, api_client):
    consultation = consultation_in(demo, Status.APPROVED)

    response = api_client.login("reviewer").get(f"{BASE}/{consultation.pk}/signatures")

    assert response.status_code == 200
    assert response.json() == []


def test_signatures_read_is_journaled(signed, api_client):
    client = api_client.login("reviewer")
    before = JournalEntry.objects.count()

    client.get(f"{BASE}/{signed.pk}/signatures")

    entry = JournalEntry.objects.order_by("-index").first()
    assert JournalEntry.objects.count() == before + 1
    assert entry.action == "consultation:read"
    assert entry.after == {"via": "api:signatures"}
