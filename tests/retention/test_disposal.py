"""Applying retention policies: deletion keeps the journal verifiable."""

import io

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import DatabaseError, transaction
from django.db.models import Max

from api.client import login
from protokol.consultations import permissions
from protokol.consultations.models import (
    Attachment,
    Consultation,
    Message,
    Transition,
)
from protokol.documents import cache as copy_cache
from protokol.documents.services import issue_copy
from protokol.journal import checkpoints, merkle, tree
from protokol.journal import services as journal
from protokol.journal.models import JournalEntry, JournalPayload
from protokol.protocols.models import ProtocolVersion
from protokol.retention import disposal, policy
from protokol.retention.models import Disposal, PurgePermit
from protokol.retention.services import (
    grant_archive_access,
    revoke_archive_access,
    set_legal_hold,
    set_policy,
)
from protokol.signing.models import Signature

from .conftest import journal_rows_text


def journal_size() -> int:
    return JournalEntry.objects.aggregate(last=Max("index"))["last"] + 1


def test_delete_removes_payload(demo, archived, django_capture_on_commit_callbacks):
    set_policy(demo["admin"], "GEN", years=5, end_action="delete")
    consultation = archived(6)
    keys = list(
        Attachment.objects.filter(consultation=consultation).values_list(
            "storage_key", flat=True
        )
    )
    assert keys and all(default_storage.exists(key) for key in keys)
    assert Signature.objects.filter(consultation=consultation).exists()

    with django_capture_on_commit_callbacks(execute=True):
        result = disposal.run()

    assert [d.consultation_id for d in result.disposals] == [consultation.pk]
    assert not Consultation.objects.filter(pk=consultation.pk).exists()
    for model in (Message, Attachment, Transition, ProtocolVersion, Signature):
        assert not model.objects.filter(consultation_id=consultation.pk).exists()
    assert not any(default_storage.exists(key) for key in keys)
    assert not PurgePermit.objects.exists()


def test_delete_clears_cached_copies(
    demo, archived, django_capture_on_commit_callbacks
):
    set_policy(demo["admin"], "GEN", years=5, end_action="delete")
    consultation = archived(6)
    issue_copy(demo["citizen"], consultation.pk)
    assert list(copy_cache.cache_dir().glob("*/*.pdf"))

    with django_capture_on_commit_callbacks(execute=True):
        disposal.run()

    assert list(copy_cache.cache_dir().glob("*/*.pdf")) == []


def test_delete_journaled_with_policy(demo, archived):
    set_policy(demo["admin"], "GEN", years=5, end_action="delete")
    consultation = archived(6)

    disposal.run()

    entry = journal.with_payloads(
        [JournalEntry.objects.get(action="retention:delete")]
    )[0]
    assert entry.actor_name == "system"
    assert entry.consultation_id == consultation.pk
    assert entry.object_label == consultation.number
    assert entry.after["policy"] == {
        "service": "GEN",
        "years": 5,
        "end_action": "delete",
    }
    assert entry.after["removed"]["messages"] == 1
    assert entry.after["removed"]["attachments"] == 1
    assert entry.after["removed"]["signatures"] >= 1
    assert Disposal.objects.get().journal_index == entry.index


def test_delete_keeps_journal_and_proofs(demo, archived):
    set_policy(demo["admin"], "GEN", years=5, end_action="delete")
    consultation = archived(6)
    checkpoints.issue_checkpoint()
    old_size = journal_size()
    old_root = tree.root(old_size)
    indexes = list(
        JournalEntry.objects.filter(consultation_id=consultation.pk).values_list(
            "index", "leaf_hash"
        )
    )
    proofs = {index: tree.inclusion_proof(index, old_size) for index, _ in indexes}

    disposal.run()
    checkpoints.issue_checkpoint()

    new_size = journal_size()
    assert new_size > old_size
    assert journal.verify(journal.iter_entry_rows()) is None
    assert tree.root(old_size) == old_root
    for index, leaf in indexes:
        assert merkle.verify_inclusion(
            index, old_size, bytes.fromhex(leaf), proofs[index], old_root
        ), index
    assert merkle.verify_consistency(
        old_size,
        new_size,
        old_root,
        tree.root(new_size),
        tree.consistency_proof(old_size, new_size),
    )
    out = io.StringIO()
    call_command("journal", "verify", stdout=out, stderr=io.StringIO())
    assert out.getvalue().startswith(f"Journal OK: {new_size} entries")
    assert f"signed checkpoint at size {new_size}" in out.getvalue()


def test_delete_redacts_journal_payloads(demo, archived):
    set_policy(demo["admin"], "GEN", years=5, end_action="delete")
    consultation = archived(6)
    indexes = set(
        JournalEntry.objects.filter(consultation_id=consultation.pk).values_list(
            "index", flat=True
        )
    )
    comments = [
        comment
        for comment in Transition.objects.filter(consultation=consultation).values_list(
            "comment", flat=True
        )
        if len(comment) > 5
    ]
    assert JournalPayload.objects.filter(entry_id__in=indexes).exists()

    disposal.run()

    assert not JournalPayload.objects.filter(entry_id__in=indexes).exists()
    redactions = JournalEntry.objects.filter(action="journal:redact")
    named = {index for entry in redactions for index in entry.after["indexes"]}
    assert named == indexes
    first = redactions.first()
    assert first.after["grounds"] == "retention:delete"
    assert first.after["policy"]["service"] == "GEN"
    assert first.consultation_id == consultation.pk
    stored = journal_rows_text()
    for comment in comments:
        assert comment not in stored
    assert journal.verify(journal.iter_entry_rows()) is None


def test_hold_set_after_listing_keeps_record(demo, archived):
    set_policy(demo["admin"], "GEN", years=5, end_action="delete")
    consultation = archived(6)
    due = policy.find_due()
    set_legal_hold(demo["supervisor"], consultation.pk, reason="Иск")

    assert disposal.dispose(due[0]) is None
    assert Consultation.objects.filter(pk=consultation.pk).exists()


def test_dry_run_changes_nothing(demo, archived):
    set_policy(demo["admin"], "GEN", years=5, end_action="delete")
    consultation = archived(6)
    entries = JournalEntry.objects.count()

    result = disposal.run(dry_run=True)

    assert [item.consultation.pk for item in result.due] == [consultation.pk]
    assert result.disposals == []
    assert Consultation.objects.filter(pk=consultation.pk).exists()
    assert JournalEntry.objects.count() == entries


def test_command_dry_run_lists(demo, archived):
    consultation = archived(6)
    out = io.StringIO()

    call_command("retention", "run", "--dry-run", stdout=out, stderr=io.StringIO())

    assert consultation.number in out.getvalue()
    assert "archive" in out.getvalue()
    assert not Disposal.objects.exists()


def test_command_run_shows_progress(demo, archived, capsys):
    archived(6)
    archived(7)
    out = io.StringIO()

    call_command("retention", "run", stdout=out)

    assert "2 disposed, 0 failed, 2 due" in out.getvalue()
    assert "Applying retention: 100%" in capsys.readouterr().err
    assert Disposal.objects.count() == 2


def test_signature_delete_without_permit_rejected(demo, archived):
    consultation = archived(1)

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Signature.objects.filter(consultation=consultation).delete()

    assert Signature.objects.filter(consultation=consultation).exists()


def test_signature_update_still_rejected(demo, archived):
    consultation = archived(1)
    PurgePermit.objects.create(consultation_id=consultation.pk)

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Signature.objects.filter(consultation=consultation).update(signer_name="x")


# -- restricted archive


def visible_to(user, consultation) -> tuple[bool, bool]:
    """Return the object and the query form of the view predicate."""
    fresh = type(user).objects.get(pk=user.pk)
    listed = Consultation.objects.filter(
        permissions.consultation_scope(fresh), pk=consultation.pk
    ).exists()
    return permissions.can_view_consultation(fresh, consultation), listed


def test_archive_hides_from_everyone(demo, archived):
    consultation = archived(6)

    disposal.run()

    assert Disposal.objects.get().end_action == "archive"
    assert JournalEntry.objects.filter(action="retention:archive").count() == 1
    for username in ("citizen", "operator", "reviewer", "supervisor", "auditor"):
        assert visible_to(demo[username], consultation) == (False, False), username
    assert login("operator").get(f"/consultations/{consultation.pk}").status_code == 404


def test_archive_grant_opens_for_auditor(demo, archived):
    consultation = archived(6)
    disposal.run()

    grant = grant_archive_access(
        demo["admin"], "auditor", reason="Проверка прокуратуры", days=7
    )

    assert visible_to(demo["auditor"], consultation) == (True, True)
    assert visible_to(demo["supervisor"], consultation) == (False, False)
    assert login("auditor").get(f"/consultations/{consultation.pk}").status_code == 200
    revoke_archive_access(demo["admin"], grant.pk)
    assert visible_to(demo["auditor"], consultation) == (False, False)
    actions = JournalEntry.objects.filter(object_type="archive_grant").values_list(
        "action", flat=True
    )
    assert list(actions) == ["retention:grant", "retention:grant_revoke"]


@pytest.mark.parametrize(
    ("username", "grantee", "days", "status", "field"),
    [
        ("supervisor", "auditor", 7, 403, None),
        ("admin", "admin", 7, 422, "username"),
        ("admin", "operator", 7, 422, "username"),
        ("admin", "auditor", 0, 422, "days"),
        ("admin", "auditor", 91, 422, "days"),
        ("admin", "nobody", 7, 404, "username"),
    ],
)
def test_grant_bad_requests(demo, username, grantee, days, status, field):
    response = login(username).post(
        "/retention/grants", {"username": grantee, "reason": "Проверка", "days": days}
    )

    assert response.status_code == status
    assert response.json()["field"] == field
