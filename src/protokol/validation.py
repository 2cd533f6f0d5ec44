"""Input checks shared by the API, the pages and the importers."""

import unicodedata

from django.conf import settings
from django.utils.translation import gettext

from protokol.errors import ValidationFailed


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

    limit = max_length or settings.CONFIG.max_text_chars
    if len(value) > limit:
        raise ValidationFailed(
            gettext(
                "%(field)s is %(length)d characters long; the maximum is %(limit)d."
            )
            % {"field": field, "length": len(value), "limit": limit},
            field=field,
        )
    if any(unicodedata.category(c) == "Cc" and c not in "\n\r\t" for c in value):
        raise ValidationFailed(
            gettext("%(field)s contains control characters; remove them.")
            % {"field": field},
            field=field,
        )
    return value
