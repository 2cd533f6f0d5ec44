"""Saving protocol versions and addenda; nothing here updates an existing row."""

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext, pgettext

from protokol.consultations import permissions
from protokol.consultations.models import Consultation, Status
from protokol.consultations.services import (
    _ensure_not_sealed,
    bump_version,
    check_version,
    get_visible,
    journal_denials,
)
from protokol.errors import Conflict, PermissionDenied
from protokol.journal import services as journal
from protokol.journal.models import JournalAction
from protokol.protocols.models import Addendum, ProtocolVersion
from protokol.validation import clean_text

EDITABLE_STATUSES = frozenset(
    {Status.INITIATED, Status.DRAFTING, Status.DATA_REQUESTED}
)
PROTOCOL_FIELDS = (
    "question",
    "documents",
    "recommendations",
    "decision",
    "decision_reason",
)


def latest_version(consultation: Consultation) -> ProtocolVersion | None:
    """Return the newest protocol version of the consultation, if any."""
    return consultation.protocol_versions.order_by("-version").first()


@journal_denials
def save_protocol(
    actor, consultation_id, *, base_version: int | None = None, **fields
) -> ProtocolVersion:
    """Save the protocol as a new version; earlier versions stay as they were."""
    cleaned = {}
    for name in PROTOCOL_FIELDS:
        value = fields.get(name, "")
        if name == "documents" and not (value or "").strip():
            cleaned[name] = ""
            continue
        cleaned[name] = clean_text(value, field=name)

    # A denial raised inside the transaction would roll back its journal
    # entry, so visibility is checked once before the transaction starts.
    get_visible(actor, consultation_id)
    with transaction.atomic():
        consultation = get_visible(actor, consultation_id, for_update=True)
        check_version(consultation, base_version)
        _ensure_not_sealed(consultation, pgettext("sealed", "the protocol"))
        if not permissions.can_edit_protocol(actor, consultation):
            raise PermissionDenied(
                gettext("Only the department's staff edit the protocol.")
            )
        if consultation.status not in EDITABLE_STATUSES:
            raise Conflict(
                gettext(
                    "The protocol cannot be edited in status '%(status)s'; "
                    "a reviewer must return it to drafting first."
                )
                % {"status": consultation.get_status_display()},
                field="status",
            )

        last = consultation.protocol_versions.aggregate(v=Max("version"))["v"] or 0
        version = ProtocolVersion.objects.create(
            consultation=consultation,
            version=last + 1,
            author=actor,
            author_name=actor.display_name,
            created_at=timezone.now(),
            **cleaned,
        )
        bump_version(consultation)
        journal.record(
            JournalAction.PROTOCOL_SAVE,
            actor=actor,
            object_type="protocol_version",
            object_id=version.pk,
            object_label=f"{consultation.number} v{version.version}",
            consultation_id=consultation.pk,
            after={"version": version.version},
        )
    return version


def add_addendum(
    actor, consultation: Consultation, *, kind: str, text: str
) -> Addendum:
    """Append an addendum inside the caller's transaction."""
    addendum = Addendum.objects.create(
        consultation=consultation,
        kind=kind,
        text=text,
        author=actor,
        author_name=actor.display_name,
        created_at=timezone.now(),
    )
    journal.record(
        JournalAction.PROTOCOL_ADDENDUM,
        actor=actor,
        object_type="addendum",
        object_id=addendum.pk,
        object_label=consultation.number,
        consultation_id=consultation.pk,
        after={"kind": kind},
    )
    return addendum
