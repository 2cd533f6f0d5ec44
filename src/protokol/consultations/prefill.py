"""Prefilling a data request form with values the citizen gave before.

Values already given for the same consultation are always shown. Values
from the citizen's identifiers and from their other consultations are shown
only when the citizen has switched prefill on (off by default), and the form
marks each of them, so nothing is filled in silently. Every decryption is
journaled with field names, never values.
"""

from dataclasses import dataclass

import structlog
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from protokol.accounts.models import CitizenIdentifiers, Role
from protokol.consultations import encryption
from protokol.consultations.models import CollectedData, PrefillConsent
from protokol.errors import PermissionDenied, ValidationFailed
from protokol.journal import services as journal
from protokol.personal import records

log = structlog.get_logger(__name__)

# Sources of a prefilled value, as the form marks them.
THIS_CONSULTATION = "consultation"
EARLIER = "earlier"
# Earlier consultations searched for values, newest first.
MAX_EARLIER_RECORDS = 20


@dataclass(frozen=True)
class Prefill:
    """A value shown in the form before the citizen types, and where it came from."""

    value: str
    source: str


def consent_enabled(user) -> bool:
    """Return whether the citizen allows prefilling from earlier data."""
    return PrefillConsent.objects.filter(user=user, enabled=True).exists()


def _require_citizen(actor) -> None:
    if not actor.is_authenticated or actor.role != Role.CITIZEN:
        raise PermissionDenied(
            gettext("Only citizens decide about prefilling their own data."),
            field="enabled",
        )


def own_consent(actor) -> bool:
    """Return the citizen's own prefill consent; 403 for any other account."""
    _require_citizen(actor)
    return consent_enabled(actor)


def set_consent(actor, enabled) -> bool:
    """Switch the citizen's prefill consent on or off, journaled; return it."""
    _require_citizen(actor)
    if not isinstance(enabled, bool):
        raise ValidationFailed(
            gettext("enabled must be true or false."), field="enabled"
        )
    with transaction.atomic():
        consent, _ = PrefillConsent.objects.select_for_update().get_or_create(
            user=actor, defaults={"updated_at": timezone.now()}
        )
        before = consent.enabled
        consent.enabled = enabled
        consent.updated_at = timezone.now()
        consent.save(update_fields=["enabled", "updated_at"])
        journal.record(
            records.PERSONAL_DATA_UPDATE,
            actor=actor,
            object_type="prefill_consent",
            object_id=actor.pk,
            object_label=actor.username,
            before={"enabled": before},
            after={"enabled": enabled},
        )
    log.info("prefill_consent_changed", user_id=actor.pk, enabled=enabled)
    return enabled


def prefill_values(actor, consultation, definitions) -> dict[str, Prefill]:
    """Return a prefilled value for each requested field that has one.

    Only the consultation's own citizen gets values. Fields are matched by
    name, and an identifier also by the field's type (an `inn` field named
    `applicant_inn` takes the citizen's ИНН).
    """
    if actor.pk != consultation.citizen_id or not definitions:
        return {}
    master = encryption.load_master_key()
    found: dict[str, Prefill] = {}

    own = CollectedData.objects.filter(consultation=consultation).first()
    if own is not None:
        values = _unseal(actor, own, master, consultation.pk, consultation.number)
        for d in definitions:
            if values.get(d.name):
                found[d.name] = Prefill(values[d.name], THIS_CONSULTATION)
    missing = [d for d in definitions if d.name not in found]
    if not missing or not consent_enabled(actor):
        return found

    earlier = _earlier_values(actor, consultation, master)
    for d in missing:
        value = earlier.get(d.name) or earlier.get(f"identifier:{d.name}")
        if value is None and d.type != "text":
            value = earlier.get(f"identifier:{d.type}")
        if value:
            found[d.name] = Prefill(value, EARLIER)
    return found


def _earlier_values(actor, consultation, master) -> dict[str, str]:
    """Return the newest earlier value per field name, and identifiers by kind."""
    values: dict[str, str] = {}
    rows = (
        CollectedData.objects.filter(consultation__citizen=actor)
        .exclude(consultation=consultation)
        .select_related("consultation")
        .order_by("-updated_at", "-id")[:MAX_EARLIER_RECORDS]
    )
    for row in rows:
        stored = _unseal(
            actor, row, master, row.consultation_id, row.consultation.number
        )
        for name, value in stored.items():
            values.setdefault(name, value)

    identifiers = CitizenIdentifiers.objects.filter(user=actor).first()
    if identifiers is not None:
        stored = records.unseal(
            identifiers, master, records.record_aad(CitizenIdentifiers, actor.pk)
        )
        _journal_read(actor, "citizen_identifiers", actor.pk, actor.username, stored)
        for name, value in stored.items():
            values[f"identifier:{name}"] = value
    return values


def _unseal(actor, record, master, consultation_id: int, number: str) -> dict:
    values = records.unseal(
        record, master, records.record_aad(CollectedData, consultation_id)
    )
    _journal_read(actor, "consultation_data", consultation_id, number, values)
    return values


def _journal_read(actor, object_type: str, object_id, label: str, values) -> None:
    journal.record_now(
        records.PERSONAL_DATA_READ,
        actor=actor,
        object_type=object_type,
        object_id=object_id,
        object_label=label,
        consultation_id=object_id if object_type == "consultation_data" else None,
        after={"via": "prefill", "fields": sorted(values)},
    )
