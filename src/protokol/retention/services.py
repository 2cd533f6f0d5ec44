"""Writes of retention settings: policies, legal holds and archive grants.

Each function checks the actor's role, validates, changes rows and journals
the change in one transaction.
"""

from datetime import timedelta

import structlog
from django.db import transaction
from django.db.models import BigIntegerField, OuterRef, Subquery
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext

from protokol.accounts.models import Role, User
from protokol.catalog.models import Service
from protokol.consultations import permissions
from protokol.consultations.models import Consultation
from protokol.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from protokol.journal import services as journal
from protokol.journal.models import JournalAction, JournalEntry
from protokol.retention import policy
from protokol.retention.access import GRANTEE_ROLES
from protokol.retention.models import (
    LEGAL_MINIMUM_YEARS,
    ArchiveGrant,
    Disposal,
    EndAction,
    LegalHold,
    RetentionPolicy,
)
from protokol.security.services import record_denial
from protokol.validation import clean_text

log = structlog.get_logger(__name__)

# Journal actions of this package.
POLICY_SET = JournalAction.RETENTION_POLICY
HOLD_SET = JournalAction.RETENTION_HOLD
HOLD_LIFT = JournalAction.RETENTION_HOLD_LIFT
GRANT_SET = JournalAction.RETENTION_GRANT
GRANT_REVOKE = JournalAction.RETENTION_GRANT_REVOKE

POLICY_ROLES = frozenset({Role.ADMIN})
HOLD_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})
GRANT_ROLES = frozenset({Role.ADMIN})
# Roles that read policies, holds, disposals and privacy requests.
READER_ROLES = frozenset({Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN})
# Reader roles that see the disposals of every department.
ALL_DISPOSALS_ROLES = frozenset({Role.AUDITOR, Role.ADMIN})
# Maximum days of one archive grant; a longer need takes a new grant and reason.
MAX_GRANT_DAYS = 90
MAX_YEARS = 100


def require_role(actor, roles, what: str) -> None:
    """Raise 403 unless the active `actor` has one of `roles`."""
    if not actor.is_authenticated or not actor.is_active or actor.role not in roles:
        raise PermissionDenied(
            gettext("Only %(roles)s may %(what)s.")
            % {
                "roles": ", ".join(sorted(str(Role(role).label) for role in roles)),
                "what": what,
            }
        )


def set_policy(actor, service_code: str, *, years, end_action) -> RetentionPolicy:
    """Set how long a service's closed consultations are kept and what happens then."""
    require_role(actor, POLICY_ROLES, gettext("set retention policies"))
    if isinstance(years, bool) or not isinstance(years, int):
        raise ValidationFailed(
            gettext("years must be a whole number of years."), field="years"
        )
    if years < LEGAL_MINIMUM_YEARS:
        raise ValidationFailed(
            gettext(
                "years is %(years)d, below the legal minimum of %(minimum)d years "
                "after closing; set %(minimum)d or more."
            )
            % {"years": years, "minimum": LEGAL_MINIMUM_YEARS},
            field="years",
        )
    if years > MAX_YEARS:
        raise ValidationFailed(
            gettext("years is %(years)d; the maximum is %(maximum)d.")
            % {"years": years, "maximum": MAX_YEARS},
            field="years",
        )
    if end_action not in EndAction.values:
        raise ValidationFailed(
            gettext("end_action must be one of: %(allowed)s.")
            % {"allowed": ", ".join(EndAction.values)},
            field="end_action",
        )
    service = Service.objects.filter(code=service_code).first()
    if service is None:
        raise NotFound(
            gettext("Service '%(code)s' not found.") % {"code": service_code},
            field="service",
        )

    with transaction.atomic():
        policy = (
            RetentionPolicy.objects.select_for_update().filter(service=service).first()
        )
        before = (
            {"years": policy.years, "end_action": policy.end_action} if policy else None
        )
        policy = policy or RetentionPolicy(service=service)
        policy.years = years
        policy.end_action = end_action
        policy.updated_at = timezone.now()
        policy.updated_by = actor
        policy.save()
        journal.record(
            POLICY_SET,
            actor=actor,
            object_type="service",
            object_id=service.pk,
            object_label=service.code,
            before=before,
            after={"years": years, "end_action": end_action},
        )
    log.info("retention_policy_set", service_id=service.pk, years=years)
    return policy


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (ValueError, TypeError):
        return None


def _consultation_for_hold(consultation_id) -> Consultation:
    try:
        return Consultation.objects.select_for_update().get(pk=int(consultation_id))
    except (Consultation.DoesNotExist, ValueError, TypeError):
        raise NotFound(
            gettext("Consultation not found."), field="consultation_id"
        ) from None


# The API path parameter that names each object type of a denial.
NOT_FOUND_FIELDS = {"consultation": "consultation_id", "legal_hold": "hold_id"}


def _deny_unless_visible(actor, consultation, *, object_type, object_id, message):
    """Journal and raise 404 unless `actor` may see the consultation.

    Called before the write's transaction, so its rollback keeps the denial.
    """
    if consultation is None or permissions.can_view_consultation(actor, consultation):
        return
    record_denial(
        actor,
        object_type=object_type,
        object_id=object_id,
        reason="not_visible",
        consultation_id=consultation.pk,
    )
    raise NotFound(message, field=NOT_FOUND_FIELDS[object_type])


def set_legal_hold(actor, consultation_id, *, reason) -> LegalHold:
    """Stop the retention clock of a consultation until the hold is lifted."""
    require_role(actor, HOLD_ROLES, gettext("set legal holds"))
    reason = clean_text(reason, field="reason")
    _deny_unless_visible(
        actor,
        Consultation.objects.filter(pk=_int_or_none(consultation_id)).first(),
        object_type="consultation",
        object_id=consultation_id,
        message=gettext("Consultation not found."),
    )

    with transaction.atomic():
        consultation = _consultation_for_hold(consultation_id)
        if consultation.legal_holds.filter(lifted_at__isnull=True).exists():
            raise Conflict(
                gettext(
                    "Consultation %(number)s is already under a legal hold; "
                    "lift it before setting another."
                )
                % {"number": consultation.number},
                field="consultation_id",
            )
        hold = LegalHold.objects.create(
            consultation=consultation,
            reason=reason,
            set_at=timezone.now(),
            set_by=actor,
        )
        journal.record(
            HOLD_SET,
            actor=actor,
            object_type="legal_hold",
            object_id=hold.pk,
            object_label=consultation.number,
            consultation_id=consultation.pk,
            after={"reason": reason},
        )
    log.info("legal_hold_set", hold_id=hold.pk, consultation_id=consultation.pk)
    return hold


def lift_legal_hold(actor, hold_id, *, reason) -> LegalHold:
    """Lift an active legal hold, restarting the consultation's retention clock."""
    require_role(actor, HOLD_ROLES, gettext("lift legal holds"))
    reason = clean_text(reason, field="reason")
    hold = LegalHold.objects.filter(pk=_int_or_none(hold_id)).first()
    _deny_unless_visible(
        actor,
        hold.consultation if hold else None,
        object_type="legal_hold",
        object_id=hold_id,
        message=gettext("Legal hold not found."),
    )

    with transaction.atomic():
        try:
            hold = LegalHold.objects.select_for_update().get(pk=int(hold_id))
        except (LegalHold.DoesNotExist, ValueError, TypeError):
            raise NotFound(gettext("Legal hold not found."), field="hold_id") from None
        if hold.lifted_at is not None:
            raise Conflict(
                gettext("The legal hold is already lifted."), field="hold_id"
            )
        hold.lifted_at = timezone.now()
        hold.lifted_by = actor
        hold.lift_reason = reason
        hold.save(update_fields=["lifted_at", "lifted_by", "lift_reason"])
        number = hold.consultation.number
        journal.record(
            HOLD_LIFT,
            actor=actor,
            object_type="legal_hold",
            object_id=hold.pk,
            object_label=number,
            consultation_id=hold.consultation_id,
            before={"set_at": hold.set_at.isoformat()},
            after={"reason": reason},
        )
    log.info("legal_hold_lifted", hold_id=hold.pk)
    return hold


def grant_archive_access(actor, username, *, reason, days) -> ArchiveGrant:
    """Let an administrator or auditor see the restricted archive for `days` days."""
    require_role(actor, GRANT_ROLES, gettext("grant access to the restricted archive"))
    reason = clean_text(reason, field="reason")
    if (
        isinstance(days, bool)
        or not isinstance(days, int)
        or not (1 <= days <= MAX_GRANT_DAYS)
    ):
        raise ValidationFailed(
            gettext("days must be a whole number from 1 to %(maximum)d.")
            % {"maximum": MAX_GRANT_DAYS},
            field="days",
        )
    grantee = User.objects.filter(username=username, is_active=True).first()
    if grantee is None:
        raise NotFound(
            gettext("User '%(username)s' not found.") % {"username": username},
            field="username",
        )
    if grantee.role not in GRANTEE_ROLES:
        raise ValidationFailed(
            gettext("Only administrators and auditors may be granted archive access."),
            field="username",
        )
    if grantee.pk == actor.pk:
        raise ValidationFailed(
            gettext("Another administrator must grant you archive access."),
            field="username",
        )

    now = timezone.now()
    with transaction.atomic():
        grant = ArchiveGrant.objects.create(
            user=grantee,
            reason=reason,
            granted_at=now,
            granted_by=actor,
            expires_at=now + timedelta(days=days),
        )
        journal.record(
            GRANT_SET,
            actor=actor,
            object_type="archive_grant",
            object_id=grant.pk,
            object_label=grantee.username,
            after={
                "user_id": grantee.pk,
                "reason": reason,
                "expires_at": grant.expires_at.isoformat(),
            },
        )
    log.info("archive_grant_set", grant_id=grant.pk, user_id=grantee.pk)
    return grant


def revoke_archive_access(actor, grant_id) -> ArchiveGrant:
    """End an archive grant before it expires."""
    require_role(actor, GRANT_ROLES, gettext("revoke archive access"))
    with transaction.atomic():
        try:
            grant = ArchiveGrant.objects.select_for_update().get(pk=int(grant_id))
        except (ArchiveGrant.DoesNotExist, ValueError, TypeError):
            raise NotFound(
                gettext("Archive grant not found."), field="grant_id"
            ) from None
        if grant.revoked_at is not None:
            raise Conflict(
                gettext("The archive grant is already revoked."), field="grant_id"
            )
        grant.revoked_at = timezone.now()
        grant.save(update_fields=["revoked_at"])
        journal.record(
            GRANT_REVOKE,
            actor=actor,
            object_type="archive_grant",
            object_id=grant.pk,
            object_label=grant.user.username,
            after={"user_id": grant.user_id},
        )
    log.info("archive_grant_revoked", grant_id=grant.pk)
    return grant


# -- reads


def list_policies(actor) -> list[dict]:
    """Return every service's rule, configured or default."""
    require_role(actor, READER_ROLES, gettext("read retention policies"))
    rules = policy.rules_by_service()
    rows = []
    for service in Service.objects.order_by("code"):
        rule = policy.rule_for(service.pk, rules)
        rows.append(
            {
                "service": service.code,
                "years": rule.years,
                "end_action": rule.end_action,
                "configured": service.pk in rules,
            }
        )
    return rows


def list_holds(actor, *, active_only: bool = False):
    """Return the legal holds on consultations `actor` may see, newest first."""
    require_role(actor, READER_ROLES, gettext("read legal holds"))
    visible = Consultation.objects.filter(permissions.consultation_scope(actor))
    holds = (
        LegalHold.objects.filter(consultation__in=visible.values("pk"))
        .select_related("consultation")
        .order_by("-set_at", "-id")
    )
    if active_only:
        holds = holds.filter(lifted_at__isnull=True)
    return holds


def list_disposals(actor):
    """Return the deletions and archivings `actor` may see, newest first.

    Admins, auditors and supervisors of all departments see every disposal.
    Other supervisors see those of consultations that were last in one of
    their departments, as the consultation's journal entries record it
    (a deleted consultation has no row left to ask).
    """
    require_role(actor, READER_ROLES, gettext("read disposals"))
    disposals = Disposal.objects.order_by("-disposed_at", "-id")
    if actor.role in ALL_DISPOSALS_ROLES or actor.all_departments:
        return disposals
    last_department = (
        JournalEntry.objects.filter(
            consultation_id=OuterRef("consultation_id"),
            after__has_key="department_id",
        )
        .order_by("-index")
        .annotate(
            department=Cast(
                KeyTextTransform("department_id", "after"), BigIntegerField()
            )
        )
        .values("department")[:1]
    )
    return disposals.annotate(department_id=Subquery(last_department)).filter(
        department_id__in=permissions.department_ids(actor)
    )
