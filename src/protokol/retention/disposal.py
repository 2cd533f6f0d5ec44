"""Applying retention policies: deleting or archiving consultations whose period ended.

Deletion removes the record's payload: messages, attachment rows and files,
collected personal data, transitions, protocol versions, disputes with their
signed conclusions, addenda, signatures and the consultation row. In the
journal, it redacts the payloads of the consultation's entries (actors'
names and comments), so every leaf hash and proof stays valid
(docs/retention.md). Each disposal appends one journal entry naming the
policy and what was removed.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from protokol.analytics.aggregates import mark_stale
from protokol.analytics.facts import refresh_facts, with_later_requests
from protokol.consultations.models import (
    Attachment,
    CollectedData,
    Consultation,
    Message,
    Transition,
)
from protokol.disputes.models import Conclusion, ConclusionSignature, Dispute
from protokol.documents import cache as copy_cache
from protokol.journal import services as journal
from protokol.journal.models import JournalAction, JournalEntry
from protokol.protocols.models import Addendum, ProtocolVersion
from protokol.retention import policy
from protokol.retention.models import Disposal, EndAction, PurgePermit
from protokol.signing.models import Signature

log = structlog.get_logger(__name__)

DELETE_ACTION = JournalAction.RETENTION_DELETE
ARCHIVE_ACTION = JournalAction.RETENTION_ARCHIVE


@dataclass
class RunResult:
    """The due consultations of one retention run and the disposals it made."""

    due: list[policy.Due]
    disposals: list[Disposal] = field(default_factory=list)
    # Ids of consultations whose disposal failed and was rolled back.
    failed: list[int] = field(default_factory=list)


def purge(consultation: Consultation, *, policy_details: dict | None = None) -> dict:
    """Delete the consultation and its payload inside the caller's transaction.

    Also redacts the journal payloads of the consultation's entries, naming
    `policy_details` in the `journal:redact` entries. Returns the counts that
    the journal entry records. Files are deleted after the commit, so a
    rollback leaves every file in place.
    """
    consultation_id = consultation.pk
    attachments = Attachment.objects.filter(consultation=consultation)
    files = list(attachments.values_list("storage_key", flat=True))
    removed = {
        "messages": Message.objects.filter(consultation=consultation).count(),
        "attachments": len(files),
        "attachment_bytes": attachments.aggregate(total=Sum("size"))["total"] or 0,
    }
    attachments.delete()
    Message.objects.filter(consultation=consultation).delete()
    removed["collected_data"] = CollectedData.objects.filter(
        consultation=consultation
    ).exists()
    CollectedData.objects.filter(consultation=consultation).delete()
    removed["protocol_versions"] = ProtocolVersion.objects.filter(
        consultation=consultation
    ).delete()[0]
    removed["transitions"] = Transition.objects.filter(
        consultation=consultation
    ).delete()[0]

    # Signatures and dispute conclusions are append-only. Their delete
    # triggers let rows pass only for a consultation with a permit row, which
    # lives for these statements.
    permit = PurgePermit.objects.create(consultation_id=consultation_id)
    disputes = Dispute.objects.filter(consultation=consultation)
    removed["conclusion_signatures"] = ConclusionSignature.objects.filter(
        conclusion__dispute__in=disputes
    ).delete()[0]
    Conclusion.objects.filter(dispute__in=disputes).delete()
    removed["disputes"] = disputes.delete()[0]
    removed["signatures"] = Signature.objects.filter(
        consultation=consultation
    ).delete()[0]
    permit.delete()
    removed["addenda"] = Addendum.objects.filter(consultation=consultation).delete()[0]

    # Entries of format 1, written before payloads existed, have none and
    # keep their text; redact() skips them.
    removed["journal_payloads"] = len(
        journal.redact(
            JournalEntry.objects.filter(consultation_id=consultation_id).values_list(
                "index", flat=True
            ),
            grounds=DELETE_ACTION,
            consultation_id=consultation_id,
            details={"policy": policy_details} if policy_details else None,
        )
    )
    # A later request of the same citizen and service loses this one as its
    # previous request.
    later_requests = with_later_requests({consultation_id}) - {consultation_id}
    mark_stale([consultation_id])
    consultation.delete()
    refresh_facts(later_requests)
    transaction.on_commit(lambda: _delete_files(consultation_id, files))
    transaction.on_commit(_clear_copy_cache)
    return removed


def _delete_files(consultation_id: int, keys: list[str]) -> None:
    for key in keys:
        try:
            default_storage.delete(key)
        except OSError as error:
            # The row is gone; an orphaned ciphertext file is unreadable
            # without its wrapped key but should still be removed by hand.
            log.error(
                "retention_file_delete_failed",
                consultation_id=consultation_id,
                storage_key=key,
                error=str(error),
            )


def _clear_copy_cache() -> None:
    """Delete every cached sealed copy, as a deleted protocol's copy is among them.

    Cache keys are hashes of the rendered inputs and name no consultation,
    so all copies go; the next request renders its copy again. Directories
    stay, so a copy being stored meanwhile still lands.
    """
    removed = 0
    for path in copy_cache.cache_dir().glob("*/*.pdf"):
        path.unlink(missing_ok=True)
        removed += 1
    log.info("retention_copy_cache_cleared", copies=removed)


def dispose(
    item: policy.Due, *, actor=None, now: datetime | None = None
) -> Disposal | None:
    """Apply the policy to one due consultation, journaled; None if no longer due.

    The row is locked and the due date computed again inside the
    transaction, so a hold set since `find_due` keeps the record.
    """
    now = now or timezone.now()
    with transaction.atomic():
        consultation = (
            Consultation.objects.select_for_update()
            .filter(pk=item.consultation.pk)
            .first()
        )
        if consultation is None:
            return None
        due_at = policy.kept_until(consultation, now)
        if due_at is None or due_at > now:
            return None

        rule = item.rule
        policy_details = {
            "service": item.consultation.service.code,
            "years": rule.years,
            "end_action": rule.end_action,
        }
        removed = (
            purge(consultation, policy_details=policy_details)
            if rule.end_action == EndAction.DELETE
            else {}
        )
        entry = journal.record(
            DELETE_ACTION if rule.end_action == EndAction.DELETE else ARCHIVE_ACTION,
            actor=actor,
            object_type="consultation",
            object_id=item.consultation.pk,
            object_label=item.consultation.number,
            consultation_id=item.consultation.pk,
            after={
                "policy": policy_details,
                "closed_at": item.closed_at.isoformat(),
                "due_at": due_at.isoformat(),
                "removed": removed,
            },
        )
        disposal = Disposal.objects.create(
            consultation_id=item.consultation.pk,
            number=item.consultation.number,
            citizen_id=item.consultation.citizen_id,
            service_code=item.consultation.service.code,
            end_action=rule.end_action,
            years=rule.years,
            closed_at=item.closed_at,
            due_at=due_at,
            disposed_at=now,
            removed=removed,
            journal_index=entry.index,
        )
        if rule.end_action != EndAction.DELETE:
            mark_stale([item.consultation.pk])
    log.info(
        "retention_disposed",
        consultation_id=disposal.consultation_id,
        end_action=disposal.end_action,
        journal_index=entry.index,
    )
    return disposal


def run(
    *, dry_run: bool = False, now: datetime | None = None, progress=None
) -> RunResult:
    """Find the due consultations and, unless `dry_run`, dispose of each.

    `progress` wraps the list of due items, e.g. in tqdm. A failure rolls
    back that consultation only, is logged, and the run goes on.
    """
    now = now or timezone.now()
    result = RunResult(due=policy.find_due(now))
    log.info("retention_run_started", due=len(result.due), dry_run=dry_run)
    if dry_run:
        return result

    items: Iterable[policy.Due] = progress(result.due) if progress else result.due
    for item in items:
        try:
            disposal = dispose(item, now=now)
        except Exception as error:
            # One bad record must not stop the run: log it, count it, go on.
            log.error(
                "retention_dispose_failed",
                consultation_id=item.consultation.pk,
                error=repr(error),
            )
            result.failed.append(item.consultation.pk)
            continue
        if disposal is not None:
            result.disposals.append(disposal)
    log.info(
        "retention_run_finished",
        disposed=len(result.disposals),
        failed=len(result.failed),
    )
    return result
