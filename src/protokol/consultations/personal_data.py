"""Data collected for a consultation and lookups by identifier.

The collected data are the values of the service's data fields. They are
stored only encrypted (personal/records.py). Identifiers among them, and the
citizen's own identifiers, can be found by exact match through their HMAC
digests. Every read of decrypted values and every lookup is journaled with
field names and ids, never with values.
"""

from dataclasses import dataclass

import structlog
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, pgettext

from protokol.accounts.models import User
from protokol.catalog.fields import value_kinds
from protokol.consultations import encryption, permissions
from protokol.consultations.models import (
    CollectedData,
    CollectedDataIndex,
    Consultation,
    Status,
)
from protokol.consultations.services import (
    _ensure_not_sealed,
    bump_version,
    get_visible,
    journal_denials,
)
from protokol.errors import Conflict, PermissionDenied, ValidationFailed
from protokol.journal import services as journal
from protokol.journal.models import JournalAction
from protokol.personal import records
from protokol.personal.validators import INDEXED_KINDS, clean_values, normalise

log = structlog.get_logger(__name__)


def _aad(consultation_id: int) -> bytes:
    return records.record_aad(CollectedData, consultation_id)


def data_summary(consultation: Consultation) -> dict:
    """Return which required fields are given and which are missing, without values."""
    record = CollectedData.objects.filter(consultation=consultation).first()
    given = list(record.fields) if record else []
    required = consultation.service.required_fields
    return {
        "required": required,
        "given": given,
        "missing": [name for name in required if name not in given],
        "updated_at": record.updated_at if record else None,
    }


def clean_for_service(service, values, *, required=()) -> dict[str, str]:
    """Return the normal forms of `values` checked against the service's fields."""
    fields = service.value_fields
    return clean_values(
        values,
        allowed=[d.name for d in fields],
        kinds=value_kinds(fields),
        required=required,
    )


@journal_denials
def set_collected_data(actor, consultation_id, values) -> dict:
    """Replace the values collected for a consultation; return its data summary.

    Only the service's data fields are accepted, each checked by its type's
    validator; empty or null values clear a field. A 422 names the first
    field at fault and lists every one in `errors`, and nothing is written.
    """
    # A denial raised inside the transaction would roll back its journal
    # entry, so visibility is checked once before the transaction starts.
    consultation = get_visible(actor, consultation_id)
    cleaned = clean_for_service(consultation.service, values)
    master = encryption.load_master_key()

    with transaction.atomic():
        consultation = get_visible(actor, consultation_id, for_update=True)
        _ensure_not_sealed(consultation, pgettext("sealed", "collected data"))
        if consultation.status == Status.WITHDRAWN:
            raise Conflict(
                gettext(
                    "The consultation is withdrawn; its data can no longer change."
                ),
                field="status",
            )
        if not permissions.can_give_personal_data(actor, consultation):
            raise PermissionDenied(
                gettext("You may not give data for this consultation."),
                field="values",
            )
        summary = store_values(actor, consultation, cleaned, master)
        bump_version(consultation)
    return summary


def store_values(actor, consultation, cleaned: dict, master, *, merge=False) -> dict:
    """Encrypt and index the values inside the caller's transaction; journal it.

    With `merge` the values are added to those stored, otherwise they replace
    them. The caller holds the consultation's row lock and counts the write.
    """
    index_key = records.load_index_key(master)
    record = (
        CollectedData.objects.select_for_update()
        .filter(consultation=consultation)
        .first()
    )
    before = list(record.fields) if record else []
    if merge and record is not None:
        stored = records.unseal(record, master, _aad(consultation.pk))
        cleaned = {**stored, **cleaned}
    record = record or CollectedData(consultation=consultation)
    records.seal(record, cleaned, master, _aad(consultation.pk))
    record.updated_by = actor
    record.save()
    record.index_entries.all().delete()
    CollectedDataIndex.objects.bulk_create(
        CollectedDataIndex(record=record, field=name, digest=value)
        for name, value in records.digests(cleaned, index_key).items()
    )
    Consultation.objects.filter(pk=consultation.pk).update(updated_at=timezone.now())
    summary = data_summary(consultation)
    journal.record(
        records.PERSONAL_DATA_UPDATE,
        actor=actor,
        object_type="consultation_data",
        object_id=consultation.pk,
        object_label=consultation.number,
        consultation_id=consultation.pk,
        before={"fields": before},
        after={"fields": summary["given"], "missing": summary["missing"]},
    )
    log.info(
        "collected_data_updated",
        consultation_id=consultation.pk,
        fields=summary["given"],
    )
    return summary


@journal_denials
def read_collected_data(actor, consultation_id, *, via: str) -> dict:
    """Return the decrypted collected values with the summary, journaling the read."""
    consultation = get_visible(actor, consultation_id)
    if not permissions.can_view_personal_data(actor, consultation):
        raise PermissionDenied(
            gettext("Your role may not read the personal data of consultations."),
            field="values",
        )
    summary = data_summary(consultation)
    record = CollectedData.objects.filter(consultation=consultation).first()
    if record is None:
        return {**summary, "values": {}}

    values = records.unseal(record, encryption.load_master_key(), _aad(consultation.pk))
    journal.record_now(
        records.PERSONAL_DATA_READ,
        actor=actor,
        object_type="consultation_data",
        object_id=consultation.pk,
        object_label=consultation.number,
        consultation_id=consultation.pk,
        after={"via": via, "fields": list(record.fields)},
    )
    return {**summary, "values": values}


@dataclass
class LookupResult:
    """Citizens and consultations that matched and that the caller may see."""

    citizens: list[User]
    consultations: list[Consultation]


MAX_LOOKUP_RESULTS = 100


def look_up(actor, *, field: str, value) -> LookupResult:
    """Find citizens and consultations by the exact value of an identifier.

    Matches the citizens' own identifiers and the data collected for
    consultations, through HMAC digests. Consultations are limited to those
    whose data the caller may read; citizens to those with such a consultation,
    unless the caller works for every department.
    """
    if not permissions.can_look_up_personal_data(actor):
        # `field` is not checked yet and could contain a value, so only a
        # known field name is journaled and logged.
        known_field = field if field in INDEXED_KINDS else None
        journal.record_now(
            JournalAction.ACCESS_DENIED,
            actor=actor if actor.is_authenticated else None,
            object_type="personal_data_lookup",
            object_id="",
            after={"reason": "forbidden", "field": known_field},
        )
        log.warning("access_denied", operation="look_up", field=known_field)
        raise PermissionDenied(
            gettext("Your role may not look up personal data."), field="field"
        )
    if field not in INDEXED_KINDS:
        raise ValidationFailed(
            gettext("field must be one of %(fields)s.")
            % {"fields": ", ".join(INDEXED_KINDS)},
            field="field",
        )
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValidationFailed(
            gettext("%(field)s must not be empty.") % {"field": "value"},
            field="value",
        )
    normalised = normalise(field, value)

    index_key = records.load_index_key(encryption.load_master_key())
    digest = records.digest(field, normalised, index_key)
    owners = User.objects.filter(
        identifiers__index_entries__field=field,
        identifiers__index_entries__digest=digest,
    )
    matches = Q(
        collected_data__index_entries__field=field,
        collected_data__index_entries__digest=digest,
    ) | Q(citizen__in=owners)
    consultations = list(
        Consultation.objects.filter(permissions.personal_data_scope(actor))
        .filter(matches)
        .select_related("service", "department")
        .distinct()
        .order_by("-created_at", "-id")[:MAX_LOOKUP_RESULTS]
    )
    citizens = owners.order_by("pk")
    if not actor.all_departments:
        citizens = citizens.filter(pk__in={c.citizen_id for c in consultations})
    citizens = list(citizens[:MAX_LOOKUP_RESULTS])

    journal.record_now(
        records.PERSONAL_DATA_LOOKUP,
        actor=actor,
        object_type="personal_data_lookup",
        object_id="",
        after={
            "field": field,
            "citizen_ids": [c.pk for c in citizens],
            "consultation_ids": [c.pk for c in consultations],
        },
    )
    log.info(
        "personal_data_lookup",
        field=field,
        citizens=len(citizens),
        consultations=len(consultations),
    )
    return LookupResult(citizens=citizens, consultations=consultations)
