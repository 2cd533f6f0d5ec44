"""Accounts, departments and API tokens: the writes, each journaled."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext

from protokol.accounts import lockout
from protokol.accounts.models import ApiToken, Department, Role, User
from protokol.compiled import CompiledQuery
from protokol.errors import NotAuthenticated, ValidationFailed
from protokol.journal import services as journal
from protokol.journal.models import JournalAction
from protokol.validation import ensure_encodable


def _hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_token(request: HttpRequest, username: str, password: str) -> str:
    """Check the password and return a new bearer token.

    Raises NotAuthenticated (401) when the user name and password do not
    match, and TooManyRequests (429) when django-axes has locked out the user
    name and the request's client address. `request` is the HTTP request that
    carried the password.
    """
    if not isinstance(username, str) or not username.strip():
        raise ValidationFailed(
            gettext("%(field)s must not be empty.") % {"field": "username"},
            field="username",
        )
    if not isinstance(password, str) or not password:
        raise ValidationFailed(
            gettext("%(field)s must not be empty.") % {"field": "password"},
            field="password",
        )
    ensure_encodable(username, field="username")
    ensure_encodable(password, field="password")
    # No account has a longer name, and the lockout's record of a failed
    # attempt takes at most 255 characters.
    limit = User._meta.get_field("username").max_length
    if len(username) > limit:
        raise ValidationFailed(
            gettext(
                "%(field)s is %(length)d characters long; the maximum is %(limit)d."
            )
            % {"field": "username", "length": len(username), "limit": limit},
            field="username",
        )

    user = authenticate(request, username=username, password=password)
    if user is None:
        journal.record_now(
            JournalAction.USER_LOGIN_FAILED,
            actor=None,
            object_type="user",
            object_id="",
            object_label=username[:150],
            after={"via": "api"},
        )
        if lockout.is_locked_out(request):
            raise lockout.lockout_error(request)
        raise NotAuthenticated(
            gettext("Invalid username or password."), field="password"
        )
    # The password matched, so the failure count starts again, as on the
    # sign-in page, even when a staff account still lacks its second factor.
    lockout.record_api_sign_in(request, user)

    if settings.STAFF_OTP_REQUIRED and user.is_staff_member:
        journal_failed_login(username, via="api", reason="second_factor_required")
        raise NotAuthenticated(
            gettext(
                "Staff accounts need a second factor: sign in on the web pages, "
                "confirm the code, then create a token with "
                "POST /api/v1/auth/session-token."
            ),
            field="otp",
        )
    return _create_token(user, second_factor=False)


def issue_session_token(user: User, *, verified: bool) -> str:
    """Create a bearer token for the user of a page session and return it.

    `verified` is django-otp's `is_verified()` of the session, and the token
    records it. Outside demo mode a staff session must be verified (401).
    """
    if settings.STAFF_OTP_REQUIRED and user.is_staff_member and not verified:
        raise NotAuthenticated(
            gettext(
                "Confirm the second factor at /login/otp/ before creating a token."
            ),
            field="otp",
        )
    return _create_token(user, second_factor=verified, after={"via": "session"})


def _create_token(user: User, *, second_factor: bool, after=None) -> str:
    raw = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        ApiToken.objects.create(
            user=user,
            key_hash=_hash_token(raw),
            created_at=now,
            expires_at=now + timedelta(hours=settings.CONFIG.token_ttl_hours),
            second_factor=second_factor,
        )
        journal.record(
            JournalAction.TOKEN_CREATE,
            actor=user,
            object_type="user",
            object_id=user.pk,
            object_label=user.username,
            after={**after, "second_factor": second_factor} if after else None,
        )
    return raw


# The user of an unexpired token, with the token's second-factor flag. Every
# API request runs it, so it is compiled once.
_TOKEN_USER = CompiledQuery(
    lambda key_hash, now: User.objects.filter(
        api_tokens__key_hash=key_hash, api_tokens__expires_at__gt=now
    ).annotate(token_second_factor=F("api_tokens__second_factor")),
    ApiToken._meta.get_field("key_hash"),
    ApiToken._meta.get_field("expires_at"),
)


def user_for_token(raw: str) -> User | None:
    """Return the active user a bearer token belongs to, or None.

    Outside demo mode a staff member's token created without a confirmed
    second factor raises NotAuthenticated (401) naming how to get another.
    """
    user = _TOKEN_USER.first(_hash_token(raw), timezone.now())
    if user is None or not user.is_active:
        return None
    if (
        settings.STAFF_OTP_REQUIRED
        and user.is_staff_member
        and not user.token_second_factor
    ):
        raise NotAuthenticated(
            gettext(
                "This staff token was created without a second factor; create a "
                "new one with POST /api/v1/auth/session-token after confirming "
                "the code at /login/otp/."
            ),
            field="otp",
        )
    return user


def journal_login(user: User, *, via: str) -> None:
    """Journal a successful sign-in."""
    journal.record_now(
        JournalAction.USER_LOGIN,
        actor=user,
        object_type="user",
        object_id=user.pk,
        object_label=user.username,
        after={"via": via},
    )


def journal_failed_login(username: str, *, via: str, reason: str = "") -> None:
    """Journal a rejected sign-in attempt without the password."""
    after = {"via": via}
    if reason:
        after["reason"] = reason
    journal.record_now(
        JournalAction.USER_LOGIN_FAILED,
        actor=None,
        object_type="user",
        object_id="",
        object_label=(username or "")[:150],
        after=after,
    )


def ensure_department(code: str, name: str, *, name_en: str = "", actor=None):
    """Return the department with `code`, creating and journaling it if new."""
    department = Department.objects.filter(code=code).first()
    if department is not None:
        return department
    department = Department.objects.create(code=code, name=name, name_en=name_en)
    journal.record(
        JournalAction.DEPARTMENT_CREATE,
        actor=actor,
        object_type="department",
        object_id=department.pk,
        object_label=department.name,
    )
    return department


def create_user(
    username: str,
    *,
    role: str,
    password: str | None,
    first_name: str = "",
    last_name: str = "",
    departments=(),
    all_departments: bool = False,
    placeholder: bool = False,
    actor=None,
) -> User:
    """Create an account inside the caller's transaction; no password means no login."""
    if role not in Role.values:
        raise ValidationFailed(
            gettext("Unknown role '%(role)s'.") % {"role": role}, field="role"
        )
    user = User(
        username=username,
        role=role,
        first_name=first_name,
        last_name=last_name,
        all_departments=all_departments,
        is_placeholder=placeholder,
        is_staff=False,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    if departments:
        user.departments.set(departments)
    journal.record(
        JournalAction.USER_CREATE,
        actor=actor,
        object_type="user",
        object_id=user.pk,
        object_label=username,
        after={"role": role, "placeholder": placeholder},
    )
    return user
