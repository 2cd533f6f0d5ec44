"""Copies and /verify after an acknowledgement or a newer signed version."""

import json

import pytest
from django.core.cache import cache

from protokol.documents import public
from protokol.documents.pdfcheck import copy_bundle_files
from protokol.documents.services import issue_copy, verification_code
from protokol.journal import checkpoints
from protokol.journal.models import JournalEntry
from protokol.signing.models import Signature

from .test_sealed_copy import failed_checks, verify

BASE = "/api/v1/consultations"


@pytest.fixture(autouse=True)
def _fresh_rate_limit():
    cache.clear()
    yield
    cache.clear()


def acknowledge(api_client, consultation):
    response = api_client.login("citizen").post(f"{BASE}/{consultation.pk}/acknowledge")
    assert response.status_code == 201, response.content
    return Signature.objects.get(pk=response.json()["id"])


def sign_entry_index(consultation, version: int) -> int:
    """Return the index of the journal entry that signed `version`."""
    seal = Signature.objects.get(
        consultation=consultation, protocol_version=version, kind="seal"
    )
    for entry in JournalEntry.objects.filter(
        consultation_id=consultation.pk, action="consultation:transition"
    ):
        listed = [item["id"] for item in entry.after.get("signatures") or []]
        if seal.pk in listed:
            return entry.index
    raise AssertionError(f"no journal entry signed version {version}")


def code_of(consultation, version: int) -> str:
    seal = Signature.objects.get(
        consultation=consultation, protocol_version=version, kind="seal"
    )
    return verification_code(bytes(seal.document))


def verify_page(client, consultation, code: str):
    return client.get("/verify", {"number": consultation.number, "code": code})


def issue_to_file(user, consultation, path) -> bytes:
    _, content = issue_copy(user, consultation.pk)
    path.write_bytes(content)
    return content


@pytest.mark.usefixtures("english")
@pytest.mark.parametrize("checkpoint", ["before", "after"])
def test_copy_after_acknowledgement_verifies(
    signed_consultation, demo, api_client, tmp_path, checkpoint
):
    # A checkpoint issued before the acknowledgement covers only the signing
    # entry. One issued after it covers the acknowledgement entry too.
    if checkpoint == "before":
        checkpoints.issue_checkpoint()
    acknowledge(api_client, signed_consultation)
    if checkpoint == "after":
        checkpoints.issue_checkpoint()
    path = tmp_path / "copy.pdf"

    content = issue_to_file(demo["citizen"], signed_consultation, path)

    passed, report = verify(path)
    assert passed, failed_checks(report)
    files = copy_bundle_files(content)
    seal = Signature.objects.get(consultation=signed_consultation, kind="seal")
    assert files["proof.txt"]
    assert files["document.json"] == bytes(seal.document)
    entry = json.loads(files["entry.json"])
    assert entry["index"] == sign_entry_index(signed_consultation, 1)
    assert entry["action"] == "consultation:transition"
    uploaded = public.verify_upload(content)
    assert uploaded.ok, [check.detail for check in uploaded.checks if not check.ok]


@pytest.mark.usefixtures("english")
def test_cached_copy_replaced_after_checkpoint(
    signed_consultation, demo, api_client, tmp_path
):
    before = issue_to_file(demo["citizen"], signed_consultation, tmp_path / "a.pdf")
    acknowledge(api_client, signed_consultation)
    checkpoints.issue_checkpoint()

    after = issue_to_file(demo["citizen"], signed_consultation, tmp_path / "b.pdf")
    again = issue_to_file(demo["citizen"], signed_consultation, tmp_path / "c.pdf")

    # The new checkpoint changes the embedded proof, so the key changes, and
    # the copy stored under the new key is returned unchanged.
    assert after != before
    assert again == after
    passed, report = verify(tmp_path / "c.pdf")
    assert passed, failed_checks(report)


def test_copy_after_acknowledgement_prints_same_code(
    signed_consultation, demo, api_client, tmp_path
):
    from .pdf_tools import contains_words, pdf_text

    code = code_of(signed_consultation, 1)
    acknowledge(api_client, signed_consultation)

    issue_to_file(demo["citizen"], signed_consultation, tmp_path / "copy.pdf")

    assert contains_words(pdf_text(tmp_path / "copy.pdf"), f"Код проверки: {code}")
