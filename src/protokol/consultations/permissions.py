"""Authorization predicates: one per permission, shared by every read and write path.

Each predicate has an object form (`can_*`). Where lists need it, a query form
(`*_scope`) is built from the same rule, and tests check that both agree.
"""

from django.db.models import Q

from protokol.accounts.models import Role
from protokol.consultations.lifecycle import ACTIONS, SEALED_STATUSES
from protokol.consultations.models import Consultation, Visibility
from protokol.retention import access as retention

DEPARTMENT_ROLES = frozenset(
    {Role.OPERATOR, Role.REVIEWER, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN}
)
DRAFTING_ROLES = frozenset({Role.OPERATOR, Role.REVIEWER})


def department_ids(user) -> frozenset[int]:
    """Return the ids of the user's departments, cached on the user object."""
    cached = getattr(user, "_department_ids", None)
    if cached is None:
        cached = frozenset(user.departments.values_list("id", flat=True))
        user._department_ids = cached
    return cached


def _in_department(user, consultation: Consultation) -> bool:
    if user.role not in DEPARTMENT_ROLES:
        return False
    return user.all_departments or consultation.department_id in department_ids(user)


def _is_owner(user, consultation: Consultation) -> bool:
    return user.role == Role.CITIZEN and consultation.citizen_id == user.pk


# -- view a consultation (list, detail, search, API, attachments, copies, journal)


def consultation_scope(user) -> Q:
    """Return the filter of consultations `user` may see."""
    if not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])
    if user.role == Role.CITIZEN:
        return Q(citizen_id=user.pk) & retention.archive_scope(user)
    if user.role in DEPARTMENT_ROLES:
        if user.all_departments:
            return retention.archive_scope(user)
        return Q(department_id__in=department_ids(user)) & retention.archive_scope(user)
    return Q(pk__in=[])


def can_view_consultation(
    user, consultation: Consultation, *, archived: bool | None = None
) -> bool:
    """Return whether `user` may see the consultation at all.

    `archived` is whether the consultation is archived, when the caller read it
    with the row (retention.access.archived_annotation).
    """
    if not user.is_authenticated or not user.is_active:
        return False
    if not (_is_owner(user, consultation) or _in_department(user, consultation)):
        return False
    return retention.can_view_archived(user, consultation, archived=archived)


# -- internal messages


def message_visibility_scope(user) -> Q:
    """Return the filter of messages `user` may read within a visible consultation."""
    if user.role == Role.CITIZEN:
        return Q(visibility=Visibility.PUBLIC)
    return Q()


def can_view_internal(user, consultation: Consultation) -> bool:
    """Return whether `user` may read internal notes of the consultation."""
    return _in_department(user, consultation)


# -- writes


def can_post_message(user, consultation: Consultation, visibility: str) -> bool:
    """Return whether `user` may add a message with `visibility` to the consultation."""
    if consultation.status in SEALED_STATUSES:
        return False
    if _is_owner(user, consultation):
        return visibility == Visibility.PUBLIC
    return _in_department(user, consultation) and user.role in DRAFTING_ROLES | {
        Role.SUPERVISOR
    }


def can_add_attachment(user, consultation: Consultation) -> bool:
    """Return whether `user` may attach a file to the consultation."""
    if consultation.status in SEALED_STATUSES:
        return False
    return _is_owner(user, consultation) or (
        _in_department(user, consultation) and user.role in DRAFTING_ROLES
    )


def can_edit_protocol(user, consultation: Consultation) -> bool:
    """Return whether `user` may save a new protocol version, ignoring the status."""
    return _in_department(user, consultation) and user.role in DRAFTING_ROLES


def can_forward(user, consultation: Consultation) -> bool:
    """Return whether `user` may move the consultation to another department."""
    return _in_department(user, consultation) and user.role in {
        Role.OPERATOR,
        Role.SUPERVISOR,
    }


def can_take_action(user, consultation: Consultation, action: str) -> bool:
    """Return whether `user`'s role and relation to the consultation allow `action`.

    The status is checked separately, so a wrong status gives 409, not 403.
    """
    rule = ACTIONS.get(action)
    if rule is None or user.role not in rule.roles:
        return False
    if user.role == Role.CITIZEN:
        return _is_owner(user, consultation)
    return _in_department(user, consultation)


def can_view_journal(user, consultation: Consultation) -> bool:
    """Return whether `user` may read the journal entries of the consultation."""
    return can_view_consultation(user, consultation)


def can_create_consultation(user) -> bool:
    """Return whether `user` may open a new consultation in their own name."""
    return user.is_authenticated and user.role == Role.CITIZEN


# -- personal data collected for a consultation (consultations/personal_data.py)

# Staff who prepare and approve the protocol read the values. Auditors and
# admins see in the journal who read them, but not the values; an auditor
# reads them only with the grant below.
PERSONAL_DATA_ROLES = frozenset({Role.OPERATOR, Role.REVIEWER, Role.SUPERVISOR})

# Django's default view permissions of the models, given per user, grant an
# auditor the values (CollectedData) and the citizens' files (Attachment).
PERSONAL_DATA_GRANT = "consultations.view_collecteddata"
ATTACHMENT_GRANT = "consultations.view_attachment"


def _auditor_granted(user, permission: str) -> bool:
    return user.role == Role.AUDITOR and user.is_active and user.has_perm(permission)


def _reads_personal_data(user) -> bool:
    return user.role in PERSONAL_DATA_ROLES or _auditor_granted(
        user, PERSONAL_DATA_GRANT
    )


def personal_data_scope(user) -> Q:
    """Return the filter of consultations whose collected data `user` may read."""
    if not user.is_authenticated:
        return Q(pk__in=[])
    if user.role == Role.CITIZEN or _reads_personal_data(user):
        return consultation_scope(user)
    return Q(pk__in=[])


def can_view_personal_data(user, consultation: Consultation) -> bool:
    """Return whether `user` may read the decrypted data collected for it."""
    if not can_view_consultation(user, consultation):
        return False
    return _is_owner(user, consultation) or _reads_personal_data(user)


def can_read_attachment(user, consultation: Consultation) -> bool:
    """Return whether `user` may download the files of a consultation.

    Citizens' files are personal data, so an auditor needs the grant.
    """
    if not can_view_consultation(user, consultation):
        return False
    if user.role == Role.AUDITOR:
        return _auditor_granted(user, ATTACHMENT_GRANT)
    return True


def can_give_personal_data(user, consultation: Consultation) -> bool:
    """Return whether `user` may set the collected data, ignoring the status."""
    return _is_owner(user, consultation) or (
        _in_department(user, consultation) and user.role in DRAFTING_ROLES
    )


def can_review_documents(user, consultation: Consultation) -> bool:
    """Return whether `user` may accept or reject requested documents."""
    return _in_department(user, consultation) and user.role in DRAFTING_ROLES


def can_look_up_personal_data(user) -> bool:
    """Return whether `user` may find consultations and citizens by an identifier."""
    return user.is_authenticated and user.is_active and user.role in PERSONAL_DATA_ROLES
