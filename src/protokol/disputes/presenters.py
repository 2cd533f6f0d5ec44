"""The dispute's case file: the claims beside the consultation's recorded actions.

Pages and the API show the same data: the citizen's claims on one side and,
on the other, the messages, transitions, signatures and journal entries of
the consultation, filtered by what the viewer may see.
"""

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
    if not internal:
        messages = messages.filter(visibility="public")
    entries = JournalEntry.objects.filter(consultation_id=consultation.pk)
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
            consultation.transitions.order_by("created_at", "id").values(
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
            Signature.objects.filter(consultation=consultation)
            .order_by("protocol_version", "id")
            .values(
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
