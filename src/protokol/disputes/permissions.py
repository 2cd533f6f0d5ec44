"""Authorization of disputes: the consultation's predicates plus the expert.

The expert gets no access to the consultation's own pages; the dispute page
shows them its record.
"""

from django.db.models import Q

from protokol.accounts.models import Role
from protokol.consultations import permissions
from protokol.consultations.models import Consultation, Transition
from protokol.protocols.models import ProtocolVersion

# Staff who may be assigned as experts: department specialists and
# supervisors, who review and sign protocols in their own work. Operators
# write drafts, and auditors and administrators do not judge content.
EXPERT_ROLES = frozenset({Role.REVIEWER, Role.SUPERVISOR})


def is_expert(user, dispute) -> bool:
    """Return whether `user` is the dispute's assigned expert."""
    return (
        user.is_authenticated
        and user.is_active
        and dispute.expert_id is not None
        and dispute.expert_id == user.pk
    )


def can_view_dispute(user, dispute) -> bool:
    """Return whether `user` may read the dispute and the record beside it."""
    return permissions.can_view_consultation(user, dispute.consultation) or is_expert(
        user, dispute
    )


def dispute_scope(user) -> Q:
    """Return the filter of disputes `user` may see, built from the same rules."""
    if not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])
    visible = Consultation.objects.filter(permissions.consultation_scope(user))
    return Q(consultation__in=visible.values("pk")) | Q(expert_id=user.pk)


def can_manage_dispute(user, dispute) -> bool:
    """Return whether `user` may assign the expert and close the dispute.

    The same rule as the lifecycle's conclude action: a supervisor of the
    consultation's department.
    """
    return permissions.can_take_action(user, dispute.consultation, "conclude")


def can_view_internal(user, dispute) -> bool:
    """Return whether `user` may read internal notes in the dispute's record."""
    return permissions.can_view_internal(user, dispute.consultation) or is_expert(
        user, dispute
    )


def conflicted_user_ids(dispute) -> set[int]:
    """Return the ids of the staff who may not be the dispute's expert.

    They are the signers and the author of the disputed protocol
    (`signer_or_author_ids`) and those who approved it (`approver_ids`).
    """
    return signer_or_author_ids(dispute) | approver_ids(dispute)


def approver_ids(dispute) -> set[int]:
    """Return the ids of the actors of the consultation's approve transitions."""
    return set(
        Transition.objects.filter(consultation=dispute.consultation, action="approve")
        .exclude(actor__isnull=True)
        .values_list("actor_id", flat=True)
    )


def signer_or_author_ids(dispute) -> set[int]:
    """Return the ids of the staff who made the disputed protocol.

    They are the signers (actors of the consultation's sign transitions) and
    the author of the disputed protocol version.
    """
    consultation = dispute.consultation
    ids = set(
        Transition.objects.filter(consultation=consultation, action="sign")
        .exclude(actor__isnull=True)
        .values_list("actor_id", flat=True)
    )
    if dispute.protocol_version is not None:
        ids.update(
            ProtocolVersion.objects.filter(
                consultation=consultation, version=dispute.protocol_version
            ).values_list("author_id", flat=True)
        )
    return ids


def expert_candidates(dispute):
    """Return the active staff who qualify as the dispute's expert."""
    from protokol.accounts.models import User

    return (
        User.objects.filter(role__in=list(EXPERT_ROLES), is_active=True)
        .exclude(pk__in=conflicted_user_ids(dispute))
        .order_by("last_name", "first_name", "username")
    )
