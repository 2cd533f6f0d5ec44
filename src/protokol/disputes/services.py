"""The dispute procedure: open, assign an expert, sign the conclusion, close.

Opening and closing ride on the lifecycle actions `dispute`, `conclude` and
`reopen`: receivers.py turns their journal entries into dispute rows inside
the same transaction, so every path that disputes (pages, API, this module)
records the claims the same way.
"""

import hashlib
from typing import TYPE_CHECKING

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from protokol.accounts.models import User
from protokol.consultations import services as consultations
from protokol.consultations.models import Consultation
from protokol.disputes import permissions
from protokol.disputes.document import conclusion_document
from protokol.disputes.models import (
    Conclusion,
    ConclusionSignature,
    Dispute,
    DisputeStatus,
)
from protokol.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from protokol.journal import services as journal
from protokol.journal.models import JournalAction
from protokol.protocols import services as protocols
from protokol.security import services as security
from protokol.signing import pki
from protokol.signing import services as signing
from protokol.signing.models import Signature, SignatureKind
from protokol.validation import clean_text

if TYPE_CHECKING:
    from protokol.signing.signers import Signer

log = structlog.get_logger(__name__)

OUTCOMES = ("conclude", "reopen")
ADDENDUM_KIND = "expert_conclusion"


def _summary(dispute: Dispute) -> dict:
    return {
        "dispute_id": dispute.pk,
        "status": dispute.status,
        "expert_id": dispute.expert_id,
        "protocol_version": dispute.protocol_version,
    }


# -- opening and closing, from the lifecycle's journal entries


def record_opened(entry) -> Dispute:
    """Store the dispute of a `dispute` transition; runs in its transaction."""
    consultation = Consultation.objects.get(pk=entry.consultation_id)
    citizen = User.objects.get(pk=entry.actor_id)
    latest = protocols.latest_version(consultation)
    dispute = Dispute.objects.create(
        consultation=consultation,
        citizen=citizen,
        claims=(entry.after or {}).get("comment", ""),
        protocol_version=latest.version if latest else None,
        opened_at=entry.created_at,
    )
    journal.record(
        JournalAction.DISPUTE_OPEN,
        actor=citizen,
        object_type="dispute",
        object_id=dispute.pk,
        object_label=consultation.number,
        consultation_id=consultation.pk,
        after={**_summary(dispute), "claims_length": len(dispute.claims)},
    )
    log.info("dispute_opened", dispute_id=dispute.pk, consultation_id=consultation.pk)
    return dispute


def record_closed(entry) -> Dispute | None:
    """Close the open dispute of a `conclude` or `reopen` transition, if any."""
    dispute = (
        Dispute.objects.select_for_update()
        .filter(consultation_id=entry.consultation_id)
        .exclude(status=DisputeStatus.CLOSED)
        .first()
    )
    if dispute is None:
        return None

    before = _summary(dispute)
    dispute.status = DisputeStatus.CLOSED
    dispute.outcome = (entry.after or {}).get("action", "")
    dispute.closed_at = entry.created_at
    dispute.save(update_fields=["status", "outcome", "closed_at"])

    actor = User.objects.filter(pk=entry.actor_id).first()
    journal.record(
        JournalAction.DISPUTE_CLOSE,
        actor=actor,
        object_type="dispute",
        object_id=dispute.pk,
        object_label=entry.object_label,
        consultation_id=entry.consultation_id,
        before=before,
        after={
            **_summary(dispute),
            "outcome": dispute.outcome,
            "with_conclusion": Conclusion.objects.filter(dispute=dispute).exists(),
        },
    )
    log.info("dispute_closed", dispute_id=dispute.pk, outcome=dispute.outcome)
    return dispute


def open_dispute(
    actor, consultation_id, *, claims: str, base_version: int | None = None
) -> Dispute:
    """Dispute a signed or archived protocol with the citizen's claims."""
    # The claims become the transition's comment, so they are checked here
    # first for errors that name the claims field the caller sent.
    claims = clean_text(claims, field="claims")
    consultations.transition(
        actor,
        consultation_id,
        action="dispute",
        comment=claims,
        base_version=base_version,
    )
    return Dispute.objects.filter(consultation_id=consultation_id).first()


# -- reading


def _deny(actor, dispute_id, reason: str, consultation_id=None) -> None:
    security.record_denial(
        actor,
        object_type="dispute",
        object_id=dispute_id,
        reason=reason,
        consultation_id=consultation_id,
    )


def get_visible(actor, dispute_id, *, for_update: bool = False) -> Dispute:
    """Return the dispute if `actor` may see it; otherwise journal and raise 404."""
    queryset = Dispute.objects.select_related(
        "consultation", "consultation__department", "consultation__service", "expert"
    )
    if for_update:
        # Only the dispute row: PostgreSQL cannot lock the outer-joined expert.
        queryset = queryset.select_for_update(of=("self",))
    try:
        dispute = queryset.get(pk=int(dispute_id))
    except (Dispute.DoesNotExist, ValueError, TypeError):
        _deny(actor, dispute_id, "not_found")
        raise NotFound(gettext("Dispute not found."), field="dispute_id") from None
    if not permissions.can_view_dispute(actor, dispute):
        _deny(actor, dispute_id, "not_visible", dispute.consultation_id)
        raise NotFound(gettext("Dispute not found."), field="dispute_id")
    return dispute


def read_dispute(actor, dispute_id, *, via: str = "page") -> Dispute:
    """Return a visible dispute and journal the read."""
    dispute = get_visible(actor, dispute_id)
    journal.record_now(
        JournalAction.DISPUTE_READ,
        actor=actor,
        object_type="dispute",
        object_id=dispute.pk,
        object_label=dispute.consultation.number,
        consultation_id=dispute.consultation_id,
        after={"via": via},
    )
    return dispute


def journal_list_read(actor, *, count: int, via: str) -> None:
    """Journal that `actor` viewed a list of disputes."""
    journal.record_now(
        JournalAction.DISPUTE_LIST,
        actor=actor,
        object_type="dispute_list",
        object_id="",
        after={"count": count, "via": via},
    )


def list_disputes(actor, *, status: str | None = None):
    """Return the disputes `actor` may see, newest first; the caller slices."""
    queryset = Dispute.objects.filter(permissions.dispute_scope(actor)).select_related(
        "consultation", "expert"
    )
    if status:
        if status not in DisputeStatus.values:
            raise ValidationFailed(
                gettext("Unknown status '%(status)s'; use one of %(statuses)s.")
                % {"status": status, "statuses": ", ".join(DisputeStatus.values)},
                field="status",
            )
        queryset = queryset.filter(status=status)
    return queryset


# -- the expert


def require_manager(actor, dispute: Dispute) -> None:
    """Journal and raise 403 unless `actor` is a supervisor of the department."""
    if permissions.can_manage_dispute(actor, dispute):
        return
    _deny(actor, dispute.pk, "forbidden", dispute.consultation_id)
    raise PermissionDenied(
        gettext("Only a supervisor of the consultation's department handles disputes."),
        field="role",
    )


def assign_expert(actor, dispute_id, *, expert: str) -> Dispute:
    """Assign (or replace) the dispute's expert; supervisors of the department.

    The expert is an active reviewer or supervisor who neither signed the
    disputed protocol nor wrote its signed version. A replaced expert loses
    access; a dispute whose conclusion is signed keeps its expert.
    """
    # A denial raised inside the transaction would roll back its journal
    # entry, so the role is checked once before the transaction starts.
    require_manager(actor, get_visible(actor, dispute_id))
    with transaction.atomic():
        dispute = get_visible(actor, dispute_id, for_update=True)
        if dispute.status not in (DisputeStatus.OPEN, DisputeStatus.ASSIGNED):
            raise Conflict(
                gettext("The dispute is '%(status)s': its expert can no longer change.")
                % {"status": dispute.get_status_display()},
                field="status",
            )
        chosen = _qualified_expert(dispute, expert)

        before = _summary(dispute)
        dispute.expert = chosen
        dispute.expert_name = chosen.display_name
        dispute.assigned_by = actor
        dispute.assigned_at = timezone.now()
        dispute.status = DisputeStatus.ASSIGNED
        dispute.save(
            update_fields=[
                "expert",
                "expert_name",
                "assigned_by",
                "assigned_at",
                "status",
            ]
        )
        journal.record(
            JournalAction.DISPUTE_ASSIGN,
            actor=actor,
            object_type="dispute",
            object_id=dispute.pk,
            object_label=dispute.consultation.number,
            consultation_id=dispute.consultation_id,
            before=before,
            after={**_summary(dispute), "expert": chosen.display_name},
        )
    log.info("dispute_expert_assigned", dispute_id=dispute.pk, expert_id=chosen.pk)
    return dispute


def _qualified_expert(dispute: Dispute, username: str) -> User:
    # Checked as text first: PostgreSQL rejects a NUL in a query parameter,
    # and the messages below quote the username.
    username = clean_text(
        username,
        field="expert",
        max_length=User._meta.get_field("username").max_length,
    )
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise ValidationFailed(
            gettext("No active user '%(username)s'; name the expert's username.")
            % {"username": username},
            field="expert",
        )
    if user.role not in permissions.EXPERT_ROLES:
        raise ValidationFailed(
            gettext(
                "'%(username)s' has the role '%(role)s'; the expert must be a "
                "reviewer or a supervisor."
            )
            % {"username": username, "role": user.get_role_display()},
            field="expert",
        )
    if user.pk in permissions.signer_or_author_ids(dispute):
        raise ValidationFailed(
            gettext(
                "'%(username)s' signed or wrote the disputed protocol; choose "
                "another expert."
            )
            % {"username": username},
            field="expert",
        )
    if user.pk in permissions.approver_ids(dispute):
        raise ValidationFailed(
            gettext(
                "'%(username)s' approved the disputed protocol; choose another expert."
            )
            % {"username": username},
            field="expert",
        )
    return user


def write_conclusion(
    actor, dispute_id, *, text: str, signer: "Signer | None" = None
) -> Conclusion:
    """Sign the expert's conclusion and append it to the protocol as an addendum.

    The conclusion is signed with the expert's certificate when they have a
    usable one, and always with the organisation seal, each with an RFC 3161
    timestamp. The protocol versions and their signatures stay as they were.
    """
    text = clean_text(text, field="text")
    # A denial raised inside the transaction would roll back its journal
    # entry, so the expert is checked once before the transaction starts.
    _require_expert(actor, get_visible(actor, dispute_id))
    with transaction.atomic():
        dispute = get_visible(actor, dispute_id, for_update=True)
        _require_expert(actor, dispute)
        if dispute.status != DisputeStatus.ASSIGNED:
            raise Conflict(
                gettext("The dispute is '%(status)s'; it takes no conclusion now.")
                % {"status": dispute.get_status_display()},
                field="status",
            )

        now = timezone.now()
        signed = Signature.objects.filter(
            consultation_id=dispute.consultation_id,
            protocol_version=dispute.protocol_version,
            kind__in=[SignatureKind.SIGNER, SignatureKind.SEAL],
        ).values_list("signed_data_sha256", flat=True)
        document = conclusion_document(
            dispute, text=text, author=actor, created_at=now, signed=list(signed)
        )
        addendum = protocols.add_addendum(
            actor, dispute.consultation, kind=ADDENDUM_KIND, text=text
        )
        conclusion = Conclusion.objects.create(
            dispute=dispute,
            addendum=addendum,
            text=text,
            author=actor,
            author_name=actor.display_name,
            document=document,
            document_sha256=hashlib.sha256(document).hexdigest(),
            created_at=now,
        )
        signatures = _sign(conclusion, actor, signer)
        dispute.status = DisputeStatus.CONCLUDED
        dispute.save(update_fields=["status"])
        journal.record(
            JournalAction.DISPUTE_CONCLUSION,
            actor=actor,
            object_type="dispute",
            object_id=dispute.pk,
            object_label=dispute.consultation.number,
            consultation_id=dispute.consultation_id,
            after={
                **_summary(dispute),
                "addendum_id": addendum.pk,
                "document_sha256": conclusion.document_sha256,
                "signatures": [
                    {
                        "id": signature.pk,
                        "kind": signature.kind,
                        "certificate_serial": signature.certificate_serial,
                    }
                    for signature in signatures
                ],
            },
        )
    log.info("dispute_conclusion_signed", dispute_id=dispute.pk)
    return conclusion


def _require_expert(actor, dispute: Dispute) -> None:
    if permissions.is_expert(actor, dispute):
        return
    _deny(actor, dispute.pk, "forbidden", dispute.consultation_id)
    raise PermissionDenied(
        gettext("Only the dispute's assigned expert writes the conclusion."),
        field="text",
    )


def _sign(conclusion: Conclusion, actor, signer: "Signer | None"):
    """Sign the conclusion's document as the expert, if certified, and the seal."""
    from protokol.signing.signers import default_signer

    signer = signer or default_signer()
    try:
        if settings.DEMO:
            # The demo creates its PKI on first use; production runs pki init.
            pki.init_pki()
        identities = []
        expert_identity = pki.user_identity(actor.username)
        # The same validity and revocation check as the protocol's signer.
        if expert_identity is not None and signing._usable(expert_identity):
            identities.append(
                (SignatureKind.SIGNER, actor.display_name, expert_identity)
            )
        seal = pki.organisation_identity("seal")
        identities.append(
            (SignatureKind.SEAL, seal.certificate.subject.rfc4514_string(), seal)
        )
        results = [
            (kind, name, signer.sign(conclusion.document, identity))
            for kind, name, identity in identities
        ]
    except pki.PkiNotConfigured as error:
        log.error("signing_pki_missing", conclusion_id=conclusion.pk)
        raise Conflict(
            gettext(
                "The signing PKI is not set up (%(error)s); "
                "an administrator must run `protokol pki init`."
            )
            % {"error": error},
            field="text",
        ) from error

    now = timezone.now()
    return [
        ConclusionSignature.objects.create(
            conclusion=conclusion,
            kind=kind,
            signer_name=name,
            certificate_serial=result.certificate_serial,
            certificate_subject=result.certificate_subject,
            signed_data_sha256=result.signed_data_sha256,
            cms=result.cms,
            timestamp_time=result.timestamp_time,
            created_at=now,
        )
        for kind, name, result in results
    ]


# -- closing by the supervisor


def close_dispute(
    actor,
    dispute_id,
    *,
    outcome: str,
    comment: str,
    base_version: int | None = None,
) -> Dispute:
    """Conclude or reopen the consultation once the expert's conclusion is signed."""
    if outcome not in OUTCOMES:
        raise ValidationFailed(
            gettext("outcome must be 'conclude' or 'reopen'."), field="outcome"
        )
    dispute = get_visible(actor, dispute_id)
    require_manager(actor, dispute)
    if dispute.status == DisputeStatus.CLOSED:
        raise Conflict(
            gettext(
                "The dispute is closed already with the outcome '%(outcome)s'; "
                "there is nothing left to close."
            )
            % {"outcome": dispute.outcome},
            field="status",
        )
    if dispute.status != DisputeStatus.CONCLUDED:
        raise Conflict(
            gettext(
                "The dispute is '%(status)s': the expert's signed conclusion "
                "comes first."
            )
            % {"status": dispute.get_status_display()},
            field="status",
        )
    consultations.transition(
        actor,
        dispute.consultation_id,
        action=outcome,
        comment=comment,
        base_version=base_version,
    )
    dispute.refresh_from_db()
    return dispute
