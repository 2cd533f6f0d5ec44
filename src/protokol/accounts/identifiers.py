"""A citizen's identifiers (phone, passport, ИНН, СНИЛС, postal address).

They are stored only encrypted (personal/records.py), with an HMAC digest of
each identifier for exact-match lookup. Several accounts may hold the same
identifier: rejecting a duplicate would tell one citizen that another has it.
"""

import structlog
from django.db import transaction
from django.utils.translation import gettext

from protokol.accounts.models import CitizenIdentifiers, IdentifierIndex, Role
from protokol.consultations import encryption
from protokol.errors import PermissionDenied
from protokol.journal import services as journal
from protokol.personal import records
from protokol.personal.validators import clean_values

log = structlog.get_logger(__name__)

IDENTIFIER_FIELDS = ("phone", "passport", "inn", "snils", "postal_address")


def _ensure_citizen(actor) -> None:
    if not actor.is_authenticated or actor.role != Role.CITIZEN:
        raise PermissionDenied(
            gettext("Only citizens keep identifiers in their account."),
            field="identifiers",
        )


def set_identifiers(actor, values) -> list[str]:
    """Replace the citizen's identifiers with `values`; return the fields now set.

    Empty or null values clear a field. Every value is checked before anything
    is written, so a 422 leaves the stored identifiers as they were.
    """
    _ensure_citizen(actor)
    cleaned = clean_values(values, allowed=list(IDENTIFIER_FIELDS))
    master = encryption.load_master_key()
    aad = records.record_aad(CitizenIdentifiers, actor.pk)

    with transaction.atomic():
        index_key = records.load_index_key(master)
        record = (
            CitizenIdentifiers.objects.select_for_update().filter(user=actor).first()
        )
        before = list(record.fields) if record else []
        if not cleaned:
            if record:
                record.delete()
        else:
            record = record or CitizenIdentifiers(user=actor)
            records.seal(record, cleaned, master, aad)
            record.save()
            record.index_entries.all().delete()
            IdentifierIndex.objects.bulk_create(
                IdentifierIndex(record=record, field=name, digest=value)
                for name, value in records.digests(cleaned, index_key).items()
            )
        journal.record(
            records.PERSONAL_DATA_UPDATE,
            actor=actor,
            object_type="citizen_identifiers",
            object_id=actor.pk,
            object_label=actor.username,
            before={"fields": before},
            after={"fields": sorted(cleaned)},
        )
    log.info("identifiers_updated", user_id=actor.pk, fields=sorted(cleaned))
    return sorted(cleaned)


def read_identifiers(actor, *, via: str) -> dict[str, str]:
    """Return the citizen's decrypted identifiers, journaling the read."""
    _ensure_citizen(actor)
    record = CitizenIdentifiers.objects.filter(user=actor).first()
    if record is None:
        return {}

    values = records.unseal(
        record,
        encryption.load_master_key(),
        records.record_aad(CitizenIdentifiers, actor.pk),
    )
    journal.record_now(
        records.PERSONAL_DATA_READ,
        actor=actor,
        object_type="citizen_identifiers",
        object_id=actor.pk,
        object_label=actor.username,
        after={"via": via, "fields": list(record.fields)},
    )
    return values


def merge_identifiers(actor, values: dict[str, str]) -> list[str]:
    """Set the given identifiers and keep the others; return the fields now set.

    For values an identity provider verified at sign-in. Nothing is written or
    journaled when the stored values already match.
    """
    _ensure_citizen(actor)
    record = CitizenIdentifiers.objects.filter(user=actor).first()
    current = {}
    if record is not None:
        current = records.unseal(
            record,
            encryption.load_master_key(),
            records.record_aad(CitizenIdentifiers, actor.pk),
        )
    if all(current.get(name) == value for name, value in values.items()):
        return sorted(current)
    return set_identifiers(actor, {**current, **values})
