"""Normalising and checking personal identifiers before they are encrypted.

Each check returns the normal form that is encrypted and HMAC-indexed, or
raises ValidationFailed naming the field and the rule. Error messages never
repeat the value, because API errors and page errors may reach logs.
"""

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext, gettext_lazy

from protokol.errors import ValidationFailed
from protokol.validation import clean_text

# Characters people put between the digits of a document number or phone.
SEPARATORS = re.compile(r"[\s\-–—.,()/№#]+")
MAX_ADDRESS_CHARS = 500
MAX_TEXT_CHARS = 500
# Maximum number of names in one values object, twice the maximum number
# of fields a service may define (catalog.fields.MAX_FIELDS is 50).
MAX_VALUES = 100

INN10_WEIGHTS = (2, 4, 10, 3, 5, 9, 4, 6, 8)
INN11_WEIGHTS = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
INN12_WEIGHTS = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
# SNILS numbers up to 001-001-998 were issued before the checksum existed.
SNILS_CHECKSUM_FROM = 1_001_998


def _text(value, field: str) -> str:
    if not isinstance(value, str):
        raise ValidationFailed(
            gettext("%(field)s must be a string.") % {"field": field}, field=field
        )
    # NFKC turns full-width digits into ASCII ones, but also № into "No".
    return unicodedata.normalize("NFKC", value.replace("№", " ")).strip()


def _digits(value, field: str, rule: str) -> str:
    """Return the digits of `value`; raise 422 on anything but digits and separators."""
    digits = SEPARATORS.sub("", _text(value, field))
    if not digits.isascii() or not digits.isdigit():
        raise ValidationFailed(
            gettext("%(field)s may contain only digits and separators; %(rule)s.")
            % {"field": field, "rule": rule},
            field=field,
        )
    return digits


def _reject_zeros(digits: str, field: str) -> None:
    """Raise 422 for a number of zeros only, whose check digits would match."""
    if digits.strip("0") == "":
        raise ValidationFailed(
            gettext("%(field)s contains only zeros; give the real number.")
            % {"field": field},
            field=field,
        )


def _wrong_length(field: str, count: int, rule: str) -> ValidationFailed:
    return ValidationFailed(
        gettext("%(field)s has %(count)d digits; %(rule)s.")
        % {"field": field, "count": count, "rule": rule},
        field=field,
    )


def _check_digit(digits: str, weights: tuple[int, ...]) -> str:
    total = sum(int(d) * w for d, w in zip(digits, weights, strict=False))
    return str(total % 11 % 10)


def normalise_inn(value, field: str = "inn") -> str:
    """Return a taxpayer number (ИНН) of 10 or 12 digits whose check digits match."""
    rule = gettext("expected 10 digits (organisation) or 12 digits (person)")
    digits = _digits(value, field, rule)
    if len(digits) == 10:
        valid = digits[9] == _check_digit(digits, INN10_WEIGHTS)
    elif len(digits) == 12:
        valid = digits[10] == _check_digit(digits, INN11_WEIGHTS) and digits[
            11
        ] == _check_digit(digits, INN12_WEIGHTS)
    else:
        raise _wrong_length(field, len(digits), rule)
    _reject_zeros(digits, field)
    if not valid:
        raise ValidationFailed(
            gettext("%(field)s: the check digits do not match; check the number.")
            % {"field": field},
            field=field,
        )
    return digits


def snils_checksum(number: str) -> str:
    """Return the two check digits of a 9-digit SNILS number."""
    total = sum(int(d) * w for d, w in zip(number, range(9, 0, -1), strict=True))
    if total > 101:
        total %= 101
    return "00" if total in (100, 101) else f"{total:02d}"


def normalise_snils(value, field: str = "snils") -> str:
    """Return an insurance number (СНИЛС) of 11 digits whose checksum matches."""
    digits = _digits(value, field, gettext("expected 11 digits, e.g. 123-456-789 01"))
    if len(digits) != 11:
        raise ValidationFailed(
            gettext("%(field)s has %(count)d digits; expected 11.")
            % {"field": field, "count": len(digits)},
            field=field,
        )
    _reject_zeros(digits, field)
    number, checksum = digits[:9], digits[9:]
    if int(number) > SNILS_CHECKSUM_FROM and snils_checksum(number) != checksum:
        raise ValidationFailed(
            gettext("%(field)s: the checksum does not match; check the number.")
            % {"field": field},
            field=field,
        )
    return digits


def normalise_passport(value, field: str = "passport") -> str:
    """Return a Russian passport's 4-digit series and 6-digit number as 10 digits."""
    digits = _digits(
        value, field, gettext("expected a 4-digit series and a 6-digit number")
    )
    if len(digits) != 10:
        raise ValidationFailed(
            gettext(
                "%(field)s has %(count)d digits; expected 10: a 4-digit series and "
                "a 6-digit number."
            )
            % {"field": field, "count": len(digits)},
            field=field,
        )
    _reject_zeros(digits, field)
    return digits


def normalise_phone(value, field: str = "phone") -> str:
    """Return a phone number as + and 8 to 15 digits (E.164).

    Numbers without a country code are taken as Russian: 8 or 7 followed by
    10 digits, or 10 digits alone, become +7 and the 10 digits.
    """
    text = _text(value, field)
    international = text.startswith("+")
    digits = _digits(
        text[1:] if international else text,
        field,
        gettext("expected + and the country code, e.g. +7 912 345-67-89"),
    )
    if not international:
        if len(digits) == 11 and digits[0] in "78":
            digits = "7" + digits[1:]
        elif len(digits) == 10:
            digits = "7" + digits
        else:
            raise ValidationFailed(
                gettext(
                    "%(field)s has %(count)d digits; give the number with + and "
                    "the country code."
                )
                % {"field": field, "count": len(digits)},
                field=field,
            )
    if not 8 <= len(digits) <= 15 or digits[0] == "0":
        raise ValidationFailed(
            gettext(
                "%(field)s: an international number has 8 to 15 digits and does not "
                "start with 0."
            )
            % {"field": field},
            field=field,
        )
    return "+" + digits


def normalise_ogrn(value, field: str = "ogrn") -> str:
    """Return a state registration number whose check digit matches.

    An organisation's ОГРН has 13 digits and its check digit is the first 12
    digits as a number modulo 11, then modulo 10. A sole trader's ОГРНИП has
    15 digits and uses the first 14 modulo 13, then modulo 10.
    """
    rule = gettext("expected 13 digits (ОГРН) or 15 digits (ОГРНИП)")
    digits = _digits(value, field, rule)
    if len(digits) == 13:
        valid = int(digits[:12]) % 11 % 10 == int(digits[12])
    elif len(digits) == 15:
        valid = int(digits[:14]) % 13 % 10 == int(digits[14])
    else:
        raise _wrong_length(field, len(digits), rule)
    _reject_zeros(digits, field)
    if not valid:
        raise ValidationFailed(
            gettext("%(field)s: the check digit does not match; check the number.")
            % {"field": field},
            field=field,
        )
    return digits


def normalise_email(value, field: str = "email") -> str:
    """Return an e-mail address with its domain in lower case."""
    text = _text(value, field)
    try:
        validate_email(text)
    except ValidationError:
        raise ValidationFailed(
            gettext("%(field)s is not a valid e-mail address, e.g. name@example.ru.")
            % {"field": field},
            field=field,
        ) from None
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


# Day-first dates as people write them in Russia, besides ISO 8601.
DAY_FIRST_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
# Names of date fields that record a past event: a birth date or a
# document's issue date, such as birth_date or passport_issue_date.
PAST_DATE_FIELD = re.compile(r"^(?:\w+_)?(?:birth_date|issue_date)$")
EARLIEST_PAST_YEAR = 1900
# UTC+14 (Line Islands) is the first time zone to reach a new day.
LATEST_UTC_OFFSET = timedelta(hours=14)


def normalise_date(value, field: str = "date") -> str:
    """Return a calendar date given as YYYY-MM-DD or DD.MM.YYYY, in ISO form.

    A field named as a past event (PAST_DATE_FIELD) also rejects dates
    before 1900 and dates after today.
    """
    text = _text(value, field)
    day_first = DAY_FIRST_DATE.match(text)
    try:
        if day_first:
            day, month, year = (int(part) for part in day_first.groups())
            parsed = date(year, month, day)
        else:
            parsed = date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(
            gettext(
                "%(field)s is not a valid date; use YYYY-MM-DD or DD.MM.YYYY, "
                "e.g. 2026-03-31."
            )
            % {"field": field},
            field=field,
        ) from None
    if PAST_DATE_FIELD.match(field):
        _check_past_date(parsed, field)
    return parsed.isoformat()


def _check_past_date(parsed: date, field: str) -> None:
    """Raise 422 for a birth or issue date before 1900 or after today.

    Today is taken in the earliest time zone, so a date that is today for
    someone anywhere is accepted.
    """
    if parsed.year < EARLIEST_PAST_YEAR:
        raise ValidationFailed(
            gettext("%(field)s is before %(year)d; check the year.")
            % {"field": field, "year": EARLIEST_PAST_YEAR},
            field=field,
        )
    today = (datetime.now(UTC) + LATEST_UTC_OFFSET).date()
    if parsed > today:
        raise ValidationFailed(
            gettext(
                "%(field)s is in the future; a birth or issue date cannot be "
                "later than today."
            )
            % {"field": field},
            field=field,
        )


def normalise_choice(value, field: str, choices: Iterable[str]) -> str:
    """Return `value` if it is one of `choices`."""
    text = _text(value, field)
    allowed = list(choices)
    if text not in allowed:
        raise ValidationFailed(
            gettext("%(field)s must be one of: %(choices)s.")
            % {"field": field, "choices": ", ".join(allowed)},
            field=field,
        )
    return text


def normalise_address(value, field: str = "postal_address") -> str:
    """Return a postal address as cleaned text of at most 500 characters."""
    return clean_text(value, field=field, max_length=MAX_ADDRESS_CHARS)


def normalise_text(value, field: str) -> str:
    """Return the value of a field with no known format as cleaned text."""
    return clean_text(value, field=field, max_length=MAX_TEXT_CHARS)


@dataclass(frozen=True)
class FieldKind:
    """A kind of personal data: its label, normaliser and whether it is indexed."""

    name: str
    label: str
    normalise: Callable[[object, str], str]
    # Indexed kinds get an HMAC of their normal form for exact-match lookup.
    indexed: bool


KINDS = {
    kind.name: kind
    for kind in [
        FieldKind("phone", gettext_lazy("Телефон"), normalise_phone, True),
        FieldKind(
            "passport", gettext_lazy("Паспорт: серия и номер"), normalise_passport, True
        ),
        FieldKind("inn", gettext_lazy("ИНН"), normalise_inn, True),
        FieldKind("snils", gettext_lazy("СНИЛС"), normalise_snils, True),
        FieldKind("ogrn", gettext_lazy("ОГРН или ОГРНИП"), normalise_ogrn, False),
        FieldKind("email", gettext_lazy("Электронная почта"), normalise_email, False),
        FieldKind("date", gettext_lazy("Дата"), normalise_date, False),
        FieldKind(
            "postal_address", gettext_lazy("Почтовый адрес"), normalise_address, False
        ),
    ]
}
INDEXED_KINDS = tuple(name for name, kind in KINDS.items() if kind.indexed)


def normalise(field: str, value) -> str:
    """Return the normal form of `value` for the field named `field`."""
    kind = KINDS.get(field)
    if kind is None:
        return normalise_text(value, field)
    return kind.normalise(value, field)


def normalise_as(kind: str, value, field: str, choices: Iterable[str] = ()) -> str:
    """Return the normal form of `value` checked as a field of type `kind`.

    Types without a format of their own (text and unknown ones) are cleaned
    as text, and `choices` lists the allowed values of a choice.
    """
    if kind == "choice":
        return normalise_choice(value, field, choices)
    known = KINDS.get(kind)
    if known is None:
        return normalise_text(value, field)
    return known.normalise(value, field)


def field_label(field: str) -> str:
    """Return the display label of a field, or its name for a field of no known kind."""
    kind = KINDS.get(field)
    return str(kind.label) if kind else field


def clean_values(
    values,
    *,
    allowed: list[str],
    kinds: dict[str, tuple[str, tuple[str, ...]]] | None = None,
    required: Iterable[str] = (),
) -> dict[str, str]:
    """Return the normal forms of the given values, dropping empty ones.

    `kinds` maps a field name to its type and choices; a field not in it is
    checked by its name's kind. Every name in `required` needs a value.
    Raises one ValidationFailed naming the first field at fault, with every
    field's error in `errors`, so that nothing is stored from a partly valid set.
    """
    if not isinstance(values, dict):
        raise ValidationFailed(
            gettext("values must be an object of field names and strings."),
            field="values",
        )
    # Each unknown name gets an error of its own that lists the allowed ones,
    # so a huge object is rejected as a whole.
    if len(values) > MAX_VALUES:
        raise ValidationFailed(
            gettext("values has %(count)d fields; the maximum is %(max)d.")
            % {"count": len(values), "max": MAX_VALUES},
            field="values",
        )
    kinds = kinds or {}
    cleaned, errors = {}, []
    for field, value in values.items():
        if field not in allowed:
            errors.append(
                {
                    "field": field,
                    "message": gettext(
                        "%(field)s is not a field here; allowed: %(allowed)s."
                    )
                    % {"field": field, "allowed": ", ".join(allowed) or "-"},
                }
            )
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        try:
            if field in kinds:
                kind, choices = kinds[field]
                cleaned[field] = normalise_as(kind, value, field, choices)
            else:
                cleaned[field] = normalise(field, value)
        except ValidationFailed as error:
            errors.append({"field": error.field, "message": error.message})

    for field in required:
        if field not in cleaned and not any(e["field"] == field for e in errors):
            errors.append(
                {
                    "field": field,
                    "message": gettext("%(field)s is required; give a value.")
                    % {"field": field},
                }
            )
    if errors:
        raise ValidationFailed(
            errors[0]["message"], field=errors[0]["field"], errors=errors
        )
    return cleaned
