"""The restricted archive: who may still see a consultation moved there.

`consultations.permissions` calls these two functions from its view
predicates, so every list, page, API call, download and copy applies them.
"""

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from protokol.accounts.models import Role
from protokol.retention.models import ArchiveGrant, Disposal, EndAction

# Roles that may hold an archive grant.
GRANTEE_ROLES = frozenset({Role.ADMIN, Role.AUDITOR})


def has_archive_grant(user) -> bool:
    """Return whether `user` has a current grant, cached on the user object."""
    cached = getattr(user, "_archive_grant", None)
    if cached is None:
        cached = user.role in GRANTEE_ROLES and (
            ArchiveGrant.objects.filter(
                user_id=user.pk,
                revoked_at__isnull=True,
                expires_at__gt=timezone.now(),
            ).exists()
        )
        user._archive_grant = cached
    return cached


def archive_scope(user) -> Q:
    """Return the filter that hides archived consultations unless `user` has a grant."""
    if has_archive_grant(user):
        return Q()
    archived = _archive_disposals().values("consultation_id")
    return ~Q(pk__in=archived)


def _archive_disposals():
    """Return the disposals that moved a consultation to the archive."""
    return Disposal.objects.filter(end_action=EndAction.ARCHIVE)


def archived_annotation() -> Exists:
    """Return an expression that is true in a query for an archived consultation.

    Passing its value to can_view_archived as `archived` saves that check's query.
    """
    return Exists(_archive_disposals().filter(consultation_id=OuterRef("pk")))


def can_view_archived(user, consultation, *, archived: bool | None = None) -> bool:
    """Return False for an archived consultation and a user without a grant.

    `archived` is the value of archived_annotation, read with the consultation
    in the same transaction. With None, the check queries the disposals.
    """
    if has_archive_grant(user):
        return True
    if archived is None:
        archived = _archive_disposals().filter(consultation_id=consultation.pk).exists()
    return not archived
