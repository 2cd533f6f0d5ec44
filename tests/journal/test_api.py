"""The journal's HTTP API: checkpoint, proofs, entries by index, and their errors."""

import pytest
from django.conf import settings

from protokol.consultations import services
from protokol.journal import checkpoints, merkle, tree
from protokol.journal.models import JournalEntry


@pytest.fixture
def signed(consultation):
    return checkpoints.issue_checkpoint()


def test_checkpoint_served_as_text(client, signed):
    response = client.get("/api/v1/journal/checkpoint")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == signed.note


def test_checkpoint_missing_is_404(client, db):
    response = client.get("/api/v1/journal/checkpoint")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_checkpoint_missing_in_request_language(client, db, russian_catalog):
    message = "No checkpoint has been issued yet."
    russian = russian_catalog(message, "Контрольных точек ещё нет.")

    russian_response = client.get("/api/v1/journal/checkpoint")
    english_response = client.get(
        "/api/v1/journal/checkpoint", HTTP_ACCEPT_LANGUAGE="en"
    )

    assert russian_response.json()["message"] == russian
    assert english_response.json()["message"] == message


def test_timestamp_missing_in_request_language(client, signed, russian_catalog):
    message = "No timestamped checkpoint has size %(size)s."
    russian = russian_catalog(message, "Нет контрольной точки размера %(size)s.")

    response = client.get("/api/v1/journal/checkpoints/999/timestamp.tsr")

    assert response.status_code == 404
    assert response.json()["message"] == russian % {"size": 999}
    assert response.json()["field"] == "size"


def test_inclusion_proof_verifies(client, signed):
    entry = JournalEntry.objects.get(index=1)

    response = client.get(
        f"/api/v1/journal/proofs/inclusion?index=1&size={signed.size}"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["root"] == signed.root_hash
    proof = [bytes.fromhex(node) for node in body["hashes"]]
    assert merkle.verify_inclusion(
        1,
        signed.size,
        bytes.fromhex(entry.leaf_hash),
        proof,
        bytes.fromhex(body["root"]),
    )


def test_consistency_proof_verifies(client, signed, demo):
    for _ in range(5):
        services.journal_list_read(demo["operator"], count=0, filters={})
    new = tree.tree_size()

    response = client.get(
        f"/api/v1/journal/proofs/consistency?old={signed.size}&new={new}"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["old_root"] == signed.root_hash
    proof = [bytes.fromhex(node) for node in body["hashes"]]
    assert merkle.verify_consistency(
        signed.size,
        new,
        bytes.fromhex(signed.root_hash),
        bytes.fromhex(body["new_root"]),
        proof,
    )


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("inclusion?index={size}&size={size}", "index"),
        ("inclusion?index=-1&size={size}", "index"),
        ("inclusion?index=0&size={beyond}", "size"),
        ("inclusion?index=0&size=0", "size"),
        ("inclusion?index=x&size=1", "index"),
        ("inclusion?size=1", "index"),
        ("consistency?old={beyond}&new={size}", "old"),
        ("consistency?old=0&new={size}", "old"),
        ("consistency?old=1&new={beyond}", "new"),
        ("inclusion?index=0&size=100000000000000000000", "size"),
        ("inclusion?index=0&size=9223372036854775809", "size"),
        ("consistency?old=1&new=100000000000000000000", "new"),
    ],
)
def test_invalid_proof_request_is_422(client, consultation, query, field):
    size = tree.tree_size()

    response = client.get(
        "/api/v1/journal/proofs/" + query.format(size=size, beyond=size + 1)
    )

    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_failed"
    assert body["field"] == field
    assert body["message"]


@pytest.mark.parametrize("username", ["auditor", "supervisor", "admin"])
def test_entry_readable_by_auditors(api_client, consultation, username):
    entry = JournalEntry.objects.get(consultation_id=consultation.pk)

    response = api_client.login(username).get(f"/api/v1/journal/entries/{entry.index}")

    assert response.status_code == 200
    body = response.json()
    assert body["leaf_hash"] == entry.leaf_hash
    assert body["action"] == "consultation:create"
    assert body["consultation_id"] == consultation.pk
    last = JournalEntry.objects.order_by("-index").first()
    assert last.action == "journal:read"
    assert last.object_id == str(entry.index)


@pytest.mark.parametrize("username", ["citizen", "operator", "reviewer"])
def test_entry_forbidden_to_others(api_client, consultation, username):
    response = api_client.login(username).get("/api/v1/journal/entries/0")

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    last = JournalEntry.objects.order_by("-index").first()
    assert last.action == "access:denied"
    assert last.after == {"reason": "role", "ip": "127.0.0.1"}


def test_entry_missing_is_404(api_client, consultation):
    response = api_client.login("auditor").get("/api/v1/journal/entries/999999")

    assert response.status_code == 404
    assert response.json()["field"] == "index"


def test_entry_requires_authentication(client, consultation):
    response = client.get("/api/v1/journal/entries/0")

    assert response.status_code == 401


def test_stale_checkpoint_refreshed_on_request(client, consultation, monkeypatch):
    first = checkpoints.issue_checkpoint()
    services.read_consultation(consultation.citizen, consultation.pk)
    # Any age counts as stale, so the test need not wait.
    monkeypatch.setattr(settings.CONFIG, "journal_checkpoint_seconds", 1e-6)

    response = client.get("/api/v1/journal/checkpoint")

    assert response.status_code == 200
    assert checkpoints.latest_checkpoint().size == tree.tree_size()
    assert checkpoints.latest_checkpoint().size > first.size
