"""The data collected for a consultation, as a copy prints it: masked or in full.

A copy prints every required field of the consultation's service. By default
each personal identifier is masked, so a copy that is passed on does not
disclose it. The full values are printed only for a requester who may read
the decrypted data (`permissions.can_view_personal_data`: the citizen
themself, or operators, reviewers and supervisors of the department), and that
read is journaled as a personal-data read.
"""

import hashlib
from dataclasses import dataclass

from django.utils.translation import gettext

from protokol.consultations import encryption, permissions
from protokol.consultations.models import CollectedData
from protokol.errors import PermissionDenied, ValidationFailed
from protokol.personal import records
from protokol.personal.validators import INDEXED_KINDS

MASKED = "masked"
FULL = "full"
VARIANTS = (MASKED, FULL)
# Digits left visible at the end of a masked identifier, so the citizen can
# tell which document was given.
VISIBLE_DIGITS = 2
MASK = "*"


@dataclass(frozen=True)
class CollectedSection:
    """The collected data a copy prints.

    `values` maps each given field to its printed value, masked or full;
    `record_digest` is the SHA-256 of the stored ciphertext, which the cache
    key uses in place of the values.
    """

    variant: str
    required: tuple[str, ...]
    values: dict
    record_digest: str | None


def check_variant(variant: str) -> str:
    """Return `variant` when it is "masked" or "full"; raise 422 naming the field."""
    if variant not in VARIANTS:
        raise ValidationFailed(
            gettext("personal_data must be 'masked' or 'full'."),
            field="personal_data",
        )
    return variant


def check_full_allowed(actor, consultation) -> None:
    """Raise 403 unless `actor` may read the full values of the collected data."""
    if not permissions.can_view_personal_data(actor, consultation):
        raise PermissionDenied(
            gettext(
                "Your role may not see personal data in full; request the copy "
                "with personal_data=masked."
            ),
            field="personal_data",
        )


def collected_section(actor, consultation, variant: str) -> CollectedSection:
    """Return the consultation's collected data as the copy of `variant` prints it.

    The full variant reads the values through `read_collected_data`, which
    checks the permission again and journals the read.
    """
    from protokol.consultations.personal_data import read_collected_data

    required = tuple(consultation.service.required_fields)
    record = CollectedData.objects.filter(consultation=consultation).first()
    if record is None:
        return CollectedSection(variant, required, {}, None)

    record_digest = hashlib.sha256(bytes(record.ciphertext)).hexdigest()
    if variant == FULL:
        plain = read_collected_data(actor, consultation.pk, via="copy")["values"]
        values = {name: display_value(name, value) for name, value in plain.items()}
    else:
        aad = records.record_aad(CollectedData, consultation.pk)
        plain = records.unseal(record, encryption.load_master_key(), aad)
        values = {name: mask_value(name, value) for name, value in plain.items()}
    return CollectedSection(variant, required, values, record_digest)


def display_value(field: str, value: str) -> str:
    """Return a normalised value grouped for reading, e.g. passport "4519 731946"."""
    if field == "passport" and len(value) == 10:
        return f"{value[:4]} {value[4:]}"
    if field == "snils" and len(value) == 11:
        return f"{value[:3]}-{value[3:6]}-{value[6:9]} {value[9:]}"
    return value


def mask_value(field: str, value: str) -> str:
    """Return `value` grouped for reading with all but its last two digits hidden.

    Identifiers (phone, passport, INN, SNILS) keep their last two digits and
    their separators. Any other field, such as a postal address, is hidden
    whole, because free text has no part that is safe to show.
    """
    if field not in INDEXED_KINDS:
        return MASK * 6
    shown = display_value(field, value)
    hidden = sum(character.isdigit() for character in shown) - VISIBLE_DIGITS
    masked, seen = [], 0
    for character in shown:
        if character.isdigit():
            masked.append(MASK if seen < hidden else character)
            seen += 1
        else:
            masked.append(character)
    return "".join(masked)
