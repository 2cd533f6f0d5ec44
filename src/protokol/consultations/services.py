"""Changes to a consultation: validate, change, journal, commit in one transaction."""

import functools
from datetime import timedelta

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext, pgettext

from protokol.accounts.models import STAFF_ROLES, Department, Role
from protokol.analytics.aggregates import mark_stale
from protokol.analytics.facts import insert_new_facts, record_reply, refresh_facts
from protokol.catalog.models import Service
from protokol.catalog.services import check_filter_codes
from protokol.compiled import CompiledQuery
from protokol.consultations import lifecycle, permissions
from protokol.consultations.models import (
    Channel,
    Consultation,
    Message,
    NumberSequence,
    Status,
    Transition,
    Visibility,
)
from protokol.errors import (
    ActionNotAllowed,
    Conflict,
    NotFound,
    PermissionDenied,
    StaleVersion,
    ValidationFailed,
)
from protokol.journal import checkpoints
from protokol.journal import services as journal
from protokol.journal.models import JournalAction
from protokol.retention.access import archived_annotation
from protokol.search import services as search
from protokol.security import services as security
from protokol.signing import pki
from protokol.signing import services as signing
from protokol.validation import clean_text
from protokol.workflow.assignment import assign_forwarded, assign_new
from protokol.workflow.routing import route

log = structlog.get_logger(__name__)

NUMBER_PREFIX = "КП"


def next_number(year: int) -> str:
    """Issue the next human number of `year`, e.g. КП-2026-000123.

    One upsert creates or increments the year's row and keeps it locked to
    the end of the transaction, so concurrent callers get numbers in turn.
    """
    table, year_column, last_column = map(
        connection.ops.quote_name, (NumberSequence._meta.db_table, "year", "last")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({year_column}, {last_column}) VALUES (%s, 1)"
            f" ON CONFLICT ({year_column})"
            f" DO UPDATE SET {last_column} = {table}.{last_column} + 1"
            f" RETURNING {last_column}",
            [year],
        )
        (last,) = cursor.fetchone()
    return f"{NUMBER_PREFIX}-{year}-{last:06d}"


def summary(consultation: Consultation) -> dict:
    """Return the facts of a consultation that journal entries carry."""
    return {
        "number": consultation.number,
        "status": consultation.status,
        "department_id": consultation.department_id,
        "service_id": consultation.service_id,
    }


def check_version(consultation: Consultation, base_version: int | None) -> None:
    """Reject a write based on a version other than the current one.

    Call it under the row lock. Without `base_version` the write goes ahead,
    as it did before versions existed.
    """
    if base_version is None or base_version == consultation.version:
        return
    if base_version < 1:
        raise ValidationFailed(
            gettext(
                "base_version must be a positive integer: the consultation's "
                "version that the write is based on."
            ),
            field="base_version",
        )
    log.info(
        "consultation_stale_write",
        consultation_id=consultation.pk,
        base_version=base_version,
        version=consultation.version,
    )
    raise StaleVersion(
        base_version,
        consultation.version,
        consultation.status,
        consultation.get_status_display(),
    )


def bump_version(consultation: Consultation, **fields) -> None:
    """Count one write; call it in the write's transaction, under the row lock.

    `fields` are other columns to set in the same UPDATE.
    """
    Consultation.objects.filter(pk=consultation.pk).update(
        version=F("version") + 1, **fields
    )
    consultation.version += 1
    for name, value in fields.items():
        setattr(consultation, name, value)


def _deny(actor, consultation_id, reason: str, operation: str = "") -> None:
    """Journal a denied attempt on a consultation, found or not.

    The entry names the consultation as its object and, when it exists, as
    its consultation_id, so auditors find the attempt in that consultation's
    journal. The citizen's view of the journal leaves denials out.
    """
    target = _existing_id(consultation_id) if reason != "not_found" else None
    security.record_denial(
        actor,
        object_type="consultation",
        object_id=consultation_id,
        reason=reason,
        consultation_id=target,
        operation=operation,
    )


def _existing_id(consultation_id) -> int | None:
    try:
        pk = int(consultation_id)
    except (TypeError, ValueError):
        return None
    return pk if Consultation.objects.filter(pk=pk).exists() else None


def journal_denials(function):
    """Journal a PermissionDenied that a write service raises, after its rollback.

    The denial is raised inside the service's transaction, so an entry written
    there would roll back with it. This wrapper writes it in a transaction of
    its own.
    """

    @functools.wraps(function)
    def wrapper(actor, *args, **kwargs):
        try:
            return function(actor, *args, **kwargs)
        except PermissionDenied:
            consultation_id = args[0] if args else kwargs.get("consultation_id", "")
            _deny(actor, consultation_id, "forbidden", operation=function.__name__)
            raise

    return wrapper


@journal_denials
def create_consultation(
    actor,
    *,
    service_code: str,
    subject: str,
    description: str,
    channel: str = Channel.WEB,
) -> Consultation:
    """Open a consultation in the citizen's name, routed by the routing rules."""
    if not permissions.can_create_consultation(actor):
        raise PermissionDenied(
            gettext("Only citizens open consultations in their own name.")
        )
    subject = clean_text(subject, field="subject", max_length=300)
    description = clean_text(description, field="description")
    service = Service.objects.filter(code=service_code, is_active=True).first()
    if service is None:
        raise ValidationFailed(
            gettext("Unknown service code '%(code)s'; GET /api/v1/services lists them.")
            % {"code": service_code},
            field="service",
        )

    department = route(service, subject=subject, description=description)
    now = timezone.now()
    with transaction.atomic():
        consultation = Consultation.objects.create(
            number=next_number(now.year),
            citizen=actor,
            service=service,
            department=department,
            channel=channel,
            subject=subject,
            description=description,
            status=Status.INITIATED,
            created_at=now,
            updated_at=now,
            deadline=now + timedelta(days=service.deadline_days),
        )
        # A consultation created now is its citizen's latest request for the
        # service, so no other consultation has it as its previous request.
        insert_new_facts(consultation)
        journal.record(
            JournalAction.CONSULTATION_CREATE,
            actor=actor,
            object_type="consultation",
            object_id=consultation.pk,
            object_label=consultation.number,
            consultation_id=consultation.pk,
            after=summary(consultation),
        )
        assign_new(consultation)
    log.info("consultation_created", consultation_id=consultation.pk)
    return consultation


def get_visible(actor, consultation_id, *, for_update: bool = False) -> Consultation:
    """Return the consultation if `actor` may see it; otherwise journal and raise 404.

    A consultation that exists but belongs to someone else gets the same 404 as a
    missing one, so ids cannot be probed.
    """
    consultation, denial = _find_visible(actor, consultation_id, for_update=for_update)
    if consultation is None:
        _deny(actor, consultation_id, denial)
        raise NotFound(gettext("Consultation not found."), field="consultation_id")
    return consultation


def _lookup(related: tuple[str, ...], *, for_update: bool) -> QuerySet:
    """Return the consultations with `related` rows and whether each is archived."""
    queryset = Consultation.objects.annotate(in_archive=archived_annotation())
    if related:
        # select_related() without names would follow every foreign key.
        queryset = queryset.select_related(*related)
    if for_update:
        # Lock only the consultation row, FOR NO KEY UPDATE. Inserts that refer
        # to it or to its citizen take KEY SHARE locks, which a plain FOR UPDATE
        # blocks while this transaction waits for the journal lock, so
        # concurrent writes deadlocked.
        queryset = queryset.select_for_update(of=("self",), no_key=True)
    return queryset


# The lookup of every message append, compiled once: the consultation row
# alone, locked.
_LOCKED_ROW = CompiledQuery(
    lambda pk: _lookup((), for_update=True).filter(pk=pk), Consultation._meta.pk
)


def _find_visible(
    actor,
    consultation_id,
    *,
    for_update: bool = False,
    related: tuple[str, ...] = ("service", "department", "citizen"),
):
    """Return (consultation, "") if `actor` may see it, else (None, denial reason).

    `related` names the foreign keys read in the same query. A write that uses
    none of them passes (), so the query reads the consultation row alone. The
    same query reads whether the consultation is archived.
    """
    try:
        pk = int(consultation_id)
    except (ValueError, TypeError):
        return None, "not_found"
    if for_update and not related:
        consultation = _LOCKED_ROW.first(pk)
    else:
        consultation = _lookup(related, for_update=for_update).filter(pk=pk).first()
    if consultation is None:
        return None, "not_found"
    if not permissions.can_view_consultation(
        actor, consultation, archived=consultation.in_archive
    ):
        return None, "not_visible"
    return consultation, ""


def read_consultation(actor, consultation_id, *, via: str = "page") -> Consultation:
    """Return a visible consultation and journal the read."""
    consultation = get_visible(actor, consultation_id)
    journal.record_now(
        JournalAction.CONSULTATION_READ,
        actor=actor,
        object_type="consultation",
        object_id=consultation.pk,
        object_label=consultation.number,
        consultation_id=consultation.pk,
        after={"via": via},
    )
    return consultation


def list_consultations(actor, *, status=None, service=None, department=None, q=None):
    """Return the consultations `actor` may see, filtered; the caller slices.

    With `q` the rows are full-text matches, best first (search/services.py).
    Spaces around `q` are ignored, so a blank `q` filters nothing, as on the
    list pages.
    """
    queryset = Consultation.objects.filter(
        permissions.consultation_scope(actor)
    ).select_related("service", "department")
    if status:
        if status not in Status.values:
            raise ValidationFailed(
                gettext("Unknown status '%(status)s'; use one of %(statuses)s.")
                % {"status": status, "statuses": ", ".join(Status.values)},
                field="status",
            )
        queryset = queryset.filter(status=status)
    check_filter_codes(service=service or "", department=department or "")
    if service:
        queryset = queryset.filter(service__code=service)
    if department:
        queryset = queryset.filter(department__code=department)
    query = (q or "").strip()
    if query:
        queryset = search.search(queryset, actor, query)
    return queryset


def journal_list_read(actor, *, count: int, filters: dict) -> None:
    """Journal that `actor` viewed a list of consultations."""
    journal.record_now(
        JournalAction.CONSULTATION_LIST,
        actor=actor,
        object_type="consultation_list",
        object_id="",
        after={"count": count, "filters": {k: v for k, v in filters.items() if v}},
    )


def _ensure_not_sealed(consultation: Consultation, what: str) -> None:
    # `what` arrives translated: each caller passes a pgettext("sealed", …) label.
    if consultation.status in lifecycle.SEALED_STATUSES:
        raise Conflict(
            gettext(
                "The protocol is %(status)s: %(what)s can no longer change. "
                "Corrections are made as addenda when a supervisor concludes a dispute."
            )
            % {"status": consultation.get_status_display(), "what": what},
            field="status",
        )


@journal_denials
def add_message(
    actor,
    consultation_id,
    *,
    text: str,
    visibility: str,
    base_version: int | None = None,
) -> Message:
    """Add a public or internal message to the dialogue."""
    if visibility not in Visibility.values:
        raise ValidationFailed(
            gettext("visibility must be 'public' or 'internal'."), field="visibility"
        )
    text = clean_text(text, field="text")

    # One locked lookup checks visibility. A denial found there is journaled
    # after the transaction, which would roll the entry back.
    with transaction.atomic():
        consultation, denial = _find_visible(
            actor, consultation_id, for_update=True, related=()
        )
        if consultation is not None:
            message = _append_message(
                actor, consultation, text, visibility, base_version
            )
    if consultation is None:
        _deny(actor, consultation_id, denial)
        raise NotFound(gettext("Consultation not found."), field="consultation_id")
    return message


def _append_message(actor, consultation, text, visibility, base_version) -> Message:
    """Insert the message and journal it; call it under the consultation's lock."""
    check_version(consultation, base_version)
    _ensure_not_sealed(consultation, pgettext("sealed", "messages"))
    if not permissions.can_post_message(actor, consultation, visibility):
        raise PermissionDenied(
            gettext("You may not post a message with visibility '%(visibility)s' here.")
            % {"visibility": visibility},
            field="visibility",
        )
    now = timezone.now()
    message = Message.objects.create(
        consultation=consultation,
        author=actor,
        author_name=actor.display_name,
        author_role=actor.role,
        text=text,
        visibility=visibility,
        created_at=now,
    )
    bump_version(consultation, updated_at=now)
    if visibility == Visibility.PUBLIC and actor.role in STAFF_ROLES:
        # Only a public message by staff can be the first reply.
        record_reply(consultation.pk, now)
    journal.record(
        JournalAction.MESSAGE_CREATE,
        actor=actor,
        object_type="message",
        object_id=message.pk,
        object_label=consultation.number,
        consultation_id=consultation.pk,
        after={"visibility": visibility, "length": len(text)},
    )
    return message


@journal_denials
def transition(
    actor,
    consultation_id,
    *,
    action: str,
    comment: str = "",
    base_version: int | None = None,
    data=None,
) -> Consultation:
    """Apply a lifecycle action; 403 for a role not allowed, 409 for a wrong status.

    `data` carries what a data action records: the requested fields and
    documents, or the answer (consultations/data_requests.py).
    """
    from protokol.consultations import data_requests
    from protokol.protocols import services as protocols

    rule = lifecycle.ACTIONS.get(action)
    if rule is None:
        raise ValidationFailed(
            gettext("Unknown action '%(action)s'; use one of %(actions)s.")
            % {"action": action, "actions": ", ".join(lifecycle.ACTIONS)},
            field="action",
        )
    comment = (comment or "").strip()
    if rule.comment_required or comment:
        comment = clean_text(comment, field="comment")

    # A denial raised inside the transaction would roll back its journal
    # entry, so visibility is checked once before the transaction starts.
    get_visible(actor, consultation_id)
    with transaction.atomic():
        consultation = get_visible(actor, consultation_id, for_update=True)
        check_version(consultation, base_version)
        if not permissions.can_take_action(actor, consultation, action):
            raise PermissionDenied(
                gettext("Your role '%(role)s' may not '%(action)s' this consultation.")
                % {
                    "role": Role(actor.role).label,
                    "action": lifecycle.action_label(action),
                },
                field="action",
            )
        if consultation.status not in rule.sources:
            # The list names what this caller could do now, not every role.
            raise ActionNotAllowed(
                action,
                consultation.status,
                lifecycle.allowed_actions_for(consultation.status, actor.role),
            )

        latest = protocols.latest_version(consultation)
        if action == "submit" and latest is None:
            raise Conflict(
                gettext("Submit needs a protocol draft: save the protocol first."),
                field="protocol",
            )
        if action == "approve" and latest is not None and latest.author_id == actor.pk:
            raise PermissionDenied(
                gettext(
                    "The author of the draft cannot approve it; another reviewer must."
                ),
                field="action",
            )

        before = summary(consultation)
        details = {"protocol_version": latest.version} if latest else {}
        data_details = {}
        if action in data_requests.ACTIONS:
            data_details = data_requests.on_transition(
                actor, consultation, action, comment, data
            )
            details.update(data_details)
        now = timezone.now()
        Transition.objects.create(
            consultation=consultation,
            action=action,
            from_status=consultation.status,
            to_status=rule.target,
            actor=actor,
            actor_name=actor.display_name,
            actor_role=actor.role,
            comment=comment,
            details=details,
            created_at=now,
        )
        consultation.status = rule.target
        consultation.updated_at = now
        if action == "take" and consultation.assignee_id is None:
            consultation.assignee = actor
        # A dispute or a reopening makes an archived consultation open again.
        consultation.closed_at = (
            now if rule.target in lifecycle.CLOSED_STATUSES else None
        )
        consultation.save(
            update_fields=["status", "updated_at", "assignee", "closed_at"]
        )
        bump_version(consultation)
        if action == "conclude":
            protocols.add_addendum(actor, consultation, kind="conclusion", text=comment)
        after = {
            **summary(consultation),
            "action": action,
            "comment": comment,
            **data_details,
        }
        if action == "sign":
            signatures = _sign(consultation, latest, actor)
            after["signatures"] = signing.signature_summary(signatures)
            # A signed checkpoint fixes the journal, signing entry included.
            transaction.on_commit(checkpoints.issue_checkpoint_safely)

        refresh_facts([consultation.pk], later_requests=False)
        journal.record(
            JournalAction.CONSULTATION_TRANSITION,
            actor=actor,
            object_type="consultation",
            object_id=consultation.pk,
            object_label=consultation.number,
            consultation_id=consultation.pk,
            before=before,
            after=after,
        )
    log.info("consultation_transition", consultation_id=consultation.pk, action=action)
    return consultation


def _sign(consultation, version, actor):
    """Sign the approved version as the actor and with the organisation seal."""
    if version is None:
        raise Conflict(
            gettext("Signing needs a protocol version; none is saved."),
            field="protocol",
        )
    try:
        if settings.DEMO:
            # The demo creates its PKI on first use; production runs pki init.
            pki.init_pki()
        return signing.sign_protocol(consultation, version, actor)
    except pki.PkiNotConfigured as error:
        log.error("signing_pki_missing", consultation_id=consultation.pk)
        raise Conflict(
            gettext(
                "The signing PKI is not set up (%(error)s); "
                "an administrator must run `protokol pki init`."
            )
            % {"error": error},
            field="action",
        ) from error


@journal_denials
def forward(
    actor,
    consultation_id,
    *,
    department_code: str,
    reason: str,
    base_version: int | None = None,
) -> Consultation:
    """Move a consultation to another department; the deadline restarts there."""
    reason = clean_text(reason, field="reason")
    department = Department.objects.filter(code=department_code).first()
    if department is None:
        raise ValidationFailed(
            gettext("Unknown department code '%(code)s'.") % {"code": department_code},
            field="department",
        )

    # A denial raised inside the transaction would roll back its journal
    # entry, so visibility is checked once before the transaction starts.
    get_visible(actor, consultation_id)
    with transaction.atomic():
        consultation = get_visible(actor, consultation_id, for_update=True)
        check_version(consultation, base_version)
        if not permissions.can_forward(actor, consultation):
            raise PermissionDenied(gettext("Your role may not forward consultations."))
        if consultation.status in lifecycle.SEALED_STATUSES | lifecycle.CLOSED_STATUSES:
            raise Conflict(
                gettext("Status '%(status)s' does not allow forwarding.")
                % {"status": consultation.get_status_display()},
                field="status",
            )
        if department.pk == consultation.department_id:
            raise ValidationFailed(
                gettext("The consultation is already in that department."),
                field="department",
            )

        before = summary(consultation)
        now = timezone.now()
        old_deadline = consultation.deadline
        details = {
            "from_department": consultation.department.code,
            "to_department": department.code,
            "old_deadline": old_deadline.isoformat() if old_deadline else None,
        }
        consultation.department = department
        consultation.assignee = None
        consultation.deadline = now + timedelta(days=consultation.service.deadline_days)
        consultation.updated_at = now
        consultation.save(
            update_fields=["department", "assignee", "deadline", "updated_at"]
        )
        mark_stale([consultation.pk])
        bump_version(consultation)
        details["new_deadline"] = consultation.deadline.isoformat()
        Transition.objects.create(
            consultation=consultation,
            action="forward",
            from_status=consultation.status,
            to_status=consultation.status,
            actor=actor,
            actor_name=actor.display_name,
            actor_role=actor.role,
            comment=reason,
            details=details,
            created_at=now,
        )
        journal.record(
            JournalAction.CONSULTATION_FORWARD,
            actor=actor,
            object_type="consultation",
            object_id=consultation.pk,
            object_label=consultation.number,
            consultation_id=consultation.pk,
            before=before,
            after={**summary(consultation), **details, "reason": reason},
        )
        assign_forwarded(consultation)
    return consultation
