"""Input checks shared by the API, the pages and the importers."""

import unicodedata
from typing import NoReturn

from django.conf import settings
from django.utils.translation import gettext

from protokol.errors import ValidationFailed

# Bidirectional embeddings, overrides and isolates reorder the text around
# them when it is displayed, so a signed copy could show "10000" where the
# stored text reads "00001" (CVE-2021-42574). Right-to-left text needs none
# of them: the marks U+200E and U+200F stay allowed.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


# Languages of the interface, the copies and the answer templates.
LANGUAGES = ("ru", "en")


def check_language(language, *, field: str = "lang") -> None:
    """Raise 422 naming `field` unless `language` is one of LANGUAGES."""
    if language not in LANGUAGES:
        raise ValidationFailed(gettext("lang must be 'ru' or 'en'."), field=field)


def ensure_encodable(value: str, *, field: str) -> None:
    """Raise 422 if `value` contains lone surrogates, which no database can store."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationFailed(
            gettext(
                "%(field)s contains invalid Unicode (a lone surrogate); "
                "send UTF-8 text."
            )
            % {"field": field},
            field=field,
        ) from None


def check_storable(value: str, *, field: str) -> None:
    """Raise 422 naming `field` if `value` contains NUL or a lone surrogate.

    PostgreSQL rejects both in every text parameter, so a value used only to
    look a row up fails as well as one that is stored.
    """
    ensure_encodable(value, field=field)
    if "\x00" in value:
        _reject_control_characters(field)


def clean_text(value, *, field: str, max_length: int | None = None) -> str:
    """Return `value` stripped and NFC-normalised, or raise 422 naming `field`."""
    if not isinstance(value, str):
        raise ValidationFailed(
            gettext("%(field)s must be a string.") % {"field": field}, field=field
        )
    ensure_encodable(value, field=field)
    value = unicodedata.normalize("NFC", value).strip()
    if not value:
        raise ValidationFailed(
            gettext("%(field)s must not be empty.") % {"field": field}, field=field
        )
    if all(c.isspace() or _is_invisible(c) for c in value):
        raise ValidationFailed(
            gettext(
                "%(field)s contains only invisible characters, such as zero-width "
                "spaces; type visible text."
            )
            % {"field": field},
            field=field,
        )

    limit = max_length or settings.CONFIG.max_text_chars
    if len(value) > limit:
        raise ValidationFailed(
            gettext(
                "%(field)s is %(length)d characters long; the maximum is %(limit)d."
            )
            % {"field": field, "length": len(value), "limit": limit},
            field=field,
        )
    if _has_control_characters(value):
        _reject_control_characters(field)
    if any(c in BIDI_CONTROLS for c in value):
        raise ValidationFailed(
            gettext(
                "%(field)s contains invisible text direction controls "
                "(U+202A to U+202E, U+2066 to U+2069); remove them."
            )
            % {"field": field},
            field=field,
        )
    return value


# Letters that display as nothing: the Hangul fillers, which Unicode lists as
# default ignorable although their category is Lo.
HANGUL_FILLERS = frozenset("\u115f\u1160\u3164\uffa0")


def _is_invisible(character: str) -> bool:
    """Return whether `character` displays as nothing on its own.

    Format characters (category Cf) include the zero-width space and joiners,
    the byte order mark and the soft hyphen. Variation selectors and the
    combining grapheme joiner only change the character before them.
    """
    return (
        unicodedata.category(character) == "Cf"
        or character in HANGUL_FILLERS
        or character == "\u034f"
        or "\ufe00" <= character <= "\ufe0f"
        or "\U000e0100" <= character <= "\U000e01ef"
    )


def check_query_text(value: str, *, field: str) -> str:
    """Return a filter value from a query string, or raise 422 on a control character.

    Tabs and line breaks pass, as in clean_text. Texts stored through
    clean_text contain no other control character, so such a filter would
    match nothing, and PostgreSQL fails on text that contains NUL.
    """
    check_control_characters(value, field=field)
    return value


def check_control_characters(value: str, *, field: str) -> None:
    """Raise 422 naming `field` if `value` contains a control character.

    Tabs and line breaks pass, as in clean_text.
    """
    if _has_control_characters(value):
        _reject_control_characters(field)


def _has_control_characters(value: str) -> bool:
    return any(unicodedata.category(c) == "Cc" and c not in "\n\r\t" for c in value)


def _reject_control_characters(field: str) -> NoReturn:
    raise ValidationFailed(
        gettext("%(field)s contains control characters; remove them.")
        % {"field": field},
        field=field,
    )
