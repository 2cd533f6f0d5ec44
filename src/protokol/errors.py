"""Domain errors: each carries the HTTP status, a stable code and the field at fault."""

from collections.abc import Iterable

from django.utils.translation import gettext, pgettext


class ProtokolError(Exception):
    """Base of the errors that services raise for callers to show."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, **extra):
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra

    def as_dict(self) -> dict:
        return {
            "error": self.code,
            "message": self.message,
            "field": self.field,
            **self.extra,
        }


class NotAuthenticated(ProtokolError):
    status = 401
    code = "not_authenticated"


class PermissionDenied(ProtokolError):
    status = 403
    code = "forbidden"


class NotFound(ProtokolError):
    status = 404
    code = "not_found"


class Conflict(ProtokolError):
    status = 409
    code = "conflict"


class ActionNotAllowed(Conflict):
    """An action that the consultation's current status does not allow.

    The message names the action and the status by their display names, and
    `allowed_actions` and `current_status` carry the codes.
    """

    code = "action_not_allowed"

    def __init__(self, action: str, status: str, allowed: Iterable[str]):
        # Imported when raised, so that this base module loads no models.
        from protokol.consultations.lifecycle import action_label
        from protokol.consultations.models import Status

        allowed = sorted(allowed)
        allowed_names = ", ".join(action_label(name) for name in allowed)
        message = gettext(
            "Action '%(action)s' is not allowed in status '%(status)s'; "
            "allowed: %(allowed)s."
        ) % {
            "action": action_label(action),
            "status": Status(status).label,
            "allowed": allowed_names or pgettext("allowed actions", "none"),
        }
        super().__init__(
            message,
            field="action",
            allowed_actions=allowed,
            current_status=status,
        )


class StaleVersion(Conflict):
    """A write based on a version of the consultation that is no longer current."""

    code = "stale_version"

    def __init__(self, base_version: int, version: int, status: str, status_name):
        message = gettext(
            "The consultation changed while you were working: you saw version "
            "%(base)d, it is now at version %(version)d (status '%(status)s'). "
            "Reload it and try again."
        ) % {"base": base_version, "version": version, "status": status_name}
        super().__init__(
            message,
            field="base_version",
            current_version=version,
            current_status=status,
        )


class Gone(ProtokolError):
    """A resource that existed and was removed on purpose, such as an expired file."""

    status = 410
    code = "gone"


class IntegrityFailed(Conflict):
    """Stored data failed its integrity check, e.g. an altered encrypted file."""

    code = "integrity_failed"


class PayloadTooLarge(ProtokolError):
    status = 413
    code = "payload_too_large"


class TooManyRequests(ProtokolError):
    """Rejection of a client over a rate or attempt limit, with the seconds to wait."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, field: str | None = None):
        super().__init__(message, field=field)
        self.retry_after = retry_after


class UnsupportedMediaType(ProtokolError):
    status = 415
    code = "unsupported_media_type"


class ValidationFailed(ProtokolError):
    status = 422
    code = "validation_failed"
