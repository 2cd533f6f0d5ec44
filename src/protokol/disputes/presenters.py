"""The dispute's case file: the claims beside the consultation's recorded actions.

Pages and the API show the same data: the citizen's claims on one side and,
on the other, the messages, transitions, signatures and journal entries of
the consultation, filtered by what the viewer may see.
"""

from protokol.consultations import permissions as consultation_permissions
from protokol.disputes import permissions
from protokol.disputes.models import Conclusion, Dispute
from protokol.journal import services as journal
from protokol.journal.models import JournalAction, JournalEntry
from protokol.journal.queries import ENTRY_READER_ROLES, SECURITY_ACTIONS
from protokol.signing.models import Signature


def dispute_summary(dispute: Dispute) -> dict:
    """Return the dispute's own facts, without the record."""
    return {
        "id": dispute.pk,
        "consultation_id": dispute.consultation_id,
        "number": dispute.consultation.number,
        "subject": dispute.consultation.subject,
        "status": dispute.status,
        "claims": dispute.claims,
        "protocol_version": dispute.protocol_version,
        "opened_at": dispute.opened_at,
        "expert": dispute.expert_name or None,
        "assigned_at": dispute.assigned_at,
        "outcome": dispute.outcome or None,
        "closed_at": dispute.closed_at,
    }


def case_file(dispute: Dispute, viewer) -> dict:
    """Return the dispute with the consultation's record as `viewer` may see it."""
    consultation = dispute.consultation
    internal = permissions.can_view_internal(viewer, dispute)

    messages = consultation.messages.order_by("created_at", "id")
    transitions = consultation.transitions.order_by("created_at", "id")
    signatures = Signature.objects.filter(consultation=consultation)
    if not internal:
        messages = messages.filter(visibility="public")
    entries = JournalEntry.objects.filter(consultation_id=consultation.pk)
    if _sees_only_as_expert(viewer, dispute) and dispute.closed_at is not None:
        # The expert reads the consultation only through the dispute, so after
        # it closes they see the record as it stood then, without later work.
        messages = messages.filter(created_at__lte=dispute.closed_at)
        transitions = transitions.filter(created_at__lte=dispute.closed_at)
        signatures = signatures.filter(created_at__lte=dispute.closed_at)
        close_index = _close_entry_index(dispute)
        if close_index is None:
            entries = entries.filter(created_at__lte=dispute.closed_at)
        else:
            entries = entries.filter(index__lte=close_index)
    if viewer.role not in ENTRY_READER_ROLES:
        entries = entries.exclude(action__in=SECURITY_ACTIONS)
    if not internal:
        entries = entries.exclude(
            action=JournalAction.MESSAGE_CREATE, after__visibility="internal"
        )

    return {
        **dispute_summary(dispute),
        "messages": [
            {
                "id": message.pk,
                "author_name": message.author_name,
                "author_role": message.author_role,
                "visibility": message.visibility,
                "text": message.text,
                "created_at": message.created_at,
            }
            for message in messages
        ],
        "transitions": list(
            transitions.values(
                "action",
                "from_status",
                "to_status",
                "actor_name",
                "actor_role",
                "comment",
                "created_at",
            )
        ),
        "signatures": list(
            signatures.order_by("protocol_version", "id").values(
                "protocol_version",
                "kind",
                "signer_name",
                "certificate_serial",
                "signed_data_sha256",
                "timestamp_time",
            )
        ),
        "journal": [
            {
                "index": entry.index,
                "created_at": entry.created_at,
                "action": entry.action,
                "actor_name": entry.actor_name,
                "actor_role": entry.actor_role,
            }
            for entry in journal.with_payloads(list(entries.order_by("index")))
        ],
        "conclusion": conclusion_summary(dispute),
    }


def _sees_only_as_expert(viewer, dispute: Dispute) -> bool:
    return permissions.is_expert(
        viewer, dispute
    ) and not consultation_permissions.can_view_consultation(
        viewer, dispute.consultation
    )


def _close_entry_index(dispute: Dispute) -> int | None:
    """Return the journal index of the dispute's dispute:close entry, if any."""
    return (
        JournalEntry.objects.filter(
            action=JournalAction.DISPUTE_CLOSE,
            object_type="dispute",
            object_id=str(dispute.pk),
        )
        .values_list("index", flat=True)
        .first()
    )


def conclusion_summary(dispute: Dispute) -> dict | None:
    """Return the signed conclusion and its signatures, or None before one exists."""
    conclusion = Conclusion.objects.filter(dispute=dispute).first()
    if conclusion is None:
        return None
    return {
        "text": conclusion.text,
        "author_name": conclusion.author_name,
        "created_at": conclusion.created_at,
        "addendum_id": conclusion.addendum_id,
        "document_sha256": conclusion.document_sha256,
        "signatures": list(
            conclusion.signatures.values(
                "kind",
                "signer_name",
                "certificate_serial",
                "signed_data_sha256",
                "timestamp_time",
            )
        ),
    }
