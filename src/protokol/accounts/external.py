"""Accounts of people who sign in through an OpenID provider or ESIA.

An identity is the provider's issuer and subject (`sub`). The first sign-in
creates the account; later ones update the names, and for staff the role and
departments, from the claims. A verified SNILS is stored in the citizen's
encrypted identifiers and links the consultations of placeholder citizens
(accounts created by imports) that carry the same SNILS.
"""

import hashlib
from dataclasses import dataclass

import structlog
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from protokol.accounts import identifiers
from protokol.accounts.models import (
    STAFF_ROLES,
    Department,
    ExternalIdentity,
    IdentifierIndex,
    Provider,
    Role,
    User,
)
from protokol.accounts.services import create_user
from protokol.consultations import encryption
from protokol.consultations.models import Consultation
from protokol.errors import PermissionDenied, ProtokolError
from protokol.journal import services as journal
from protokol.journal.models import JournalAction
from protokol.personal import records
from protokol.personal.validators import normalise_snils

log = structlog.get_logger(__name__)

ALL_DEPARTMENTS = "*"


@dataclass(frozen=True)
class ExternalClaims:
    """The claims a provider sent about the person signing in, already validated.

    Fields:
        provider: a Provider value.
        issuer, subject: the identity at the provider.
        first_name, middle_name, last_name: the name, any part may be empty.
        verified: the provider vouches for the person's identity.
        snils: the SNILS as the provider sent it, or empty.
        role: Role.CITIZEN, or the staff role from the staff claim.
        departments: department codes from the staff claim; "*" means all.
    """

    provider: str
    issuer: str
    subject: str
    first_name: str = ""
    middle_name: str = ""
    last_name: str = ""
    verified: bool = False
    snils: str = ""
    role: str = Role.CITIZEN
    departments: tuple[str, ...] = ()


@dataclass(frozen=True)
class SignIn:
    """The account an external sign-in reached and what it changed."""

    user: User
    created: bool
    linked_accounts: tuple[int, ...] = ()
    linked_consultations: tuple[int, ...] = ()


def username_for(issuer: str, subject: str, provider: str) -> str:
    """Return a stable user name for an identity that does not reveal the subject."""
    digest = hashlib.sha256(f"{issuer}\x00{subject}".encode()).hexdigest()
    return f"{provider}-{digest[:20]}"


def staff_claims(claims: dict, *, role_claim: str, departments_claim: str):
    """Return (role, department codes) from a staff provider's claims.

    Raises PermissionDenied (403) when the role claim is missing or names no
    staff role, because such a person may not work in Protokol.
    """
    role = claims.get(role_claim)
    if role not in {r.value for r in STAFF_ROLES}:
        raise PermissionDenied(
            gettext(
                "The organisation's identity provider gives no staff role in claim "
                "'%(claim)s' (expected one of %(roles)s); ask its administrator "
                "to assign one."
            )
            % {"claim": role_claim, "roles": ", ".join(sorted(STAFF_ROLES))},
            field=role_claim,
        )
    codes = claims.get(departments_claim) or []
    if isinstance(codes, str):
        codes = codes.split()
    return role, tuple(str(code) for code in codes)


def sign_in(claims: ExternalClaims) -> SignIn:
    """Return the account of the identity, creating or updating it, and journal it.

    Raises PermissionDenied when the identity's account is disabled or has a
    role that this provider may not sign in (a citizen provider reaching a
    staff account, or the other way round).
    """
    snils = _normalised_snils(claims)
    now = timezone.now()
    with transaction.atomic():
        identity = (
            ExternalIdentity.objects.select_for_update()
            .select_related("user")
            .filter(issuer=claims.issuer, subject=claims.subject)
            .first()
        )
        created = identity is None
        if created:
            user = _create_account(claims)
            identity = ExternalIdentity.objects.create(
                user=user,
                provider=claims.provider,
                issuer=claims.issuer,
                subject=claims.subject,
                verified=claims.verified,
                created_at=now,
                last_login_at=now,
            )
        else:
            user = identity.user
            _check_account(user, claims)
            changes = _update_account(user, claims)
            identity.verified = claims.verified
            identity.last_login_at = now
            identity.save(update_fields=["verified", "last_login_at"])

        linked_accounts, linked_consultations = (), ()
        if snils and claims.verified:
            identifiers.merge_identifiers(user, {"snils": snils})
            linked_accounts, linked_consultations = _link_placeholders(user, snils)

        after = {
            "via": claims.provider,
            "created": created,
            "verified": claims.verified,
            "linked_accounts": list(linked_accounts),
        }
        if not created and changes:
            after["changes"] = changes
        journal.record(
            JournalAction.USER_LOGIN,
            actor=user,
            object_type="user",
            object_id=user.pk,
            object_label=user.username,
            after=after,
        )

    log.info(
        "external_sign_in",
        provider=claims.provider,
        user_id=user.pk,
        created=created,
        verified=claims.verified,
        linked_accounts=len(linked_accounts),
    )
    return SignIn(user, created, linked_accounts, linked_consultations)


def _normalised_snils(claims: ExternalClaims) -> str:
    """Return the claim's SNILS in normal form, or "" when absent or invalid."""
    if not claims.snils:
        return ""
    try:
        return normalise_snils(str(claims.snils))
    except ProtokolError:
        # The sign-in goes on without it: nothing is stored or linked.
        log.warning("external_snils_invalid", provider=claims.provider)
        return ""


def _departments(codes: tuple[str, ...]) -> tuple[list[Department], bool]:
    everywhere = ALL_DEPARTMENTS in codes
    found = list(Department.objects.filter(code__in=codes))
    missing = sorted(set(codes) - {d.code for d in found} - {ALL_DEPARTMENTS})
    if missing:
        log.warning("external_departments_unknown", codes=missing)
    return found, everywhere


def _create_account(claims: ExternalClaims) -> User:
    departments, everywhere = _departments(claims.departments)
    return create_user(
        username_for(claims.issuer, claims.subject, claims.provider),
        role=claims.role,
        password=None,
        first_name=_first_name(claims),
        last_name=claims.last_name[:150],
        departments=departments,
        all_departments=everywhere,
    )


def _first_name(claims: ExternalClaims) -> str:
    # Russian names put the patronymic after the given name.
    return " ".join(p for p in (claims.first_name, claims.middle_name) if p)[:150]


def _check_account(user: User, claims: ExternalClaims) -> None:
    citizen_provider = claims.provider != Provider.STAFF_OIDC
    if not user.is_active or citizen_provider != user.is_citizen:
        raise PermissionDenied(
            gettext(
                "The account of this identity is disabled or may not sign in "
                "through this provider; ask the administrator."
            ),
            field="provider",
        )


def _update_account(user: User, claims: ExternalClaims) -> dict:
    """Apply the claims' name, role and departments; return what changed."""
    changes = {}
    first_name = _first_name(claims)
    if (user.first_name, user.last_name) != (first_name, claims.last_name[:150]):
        user.first_name = first_name
        user.last_name = claims.last_name[:150]
        changes["name"] = True
    if claims.provider == Provider.STAFF_OIDC:
        departments, everywhere = _departments(claims.departments)
        before = sorted(user.departments.values_list("code", flat=True))
        after = sorted(d.code for d in departments)
        if user.role != claims.role:
            changes["role"] = {"before": user.role, "after": claims.role}
            user.role = claims.role
        if before != after or user.all_departments != everywhere:
            changes["departments"] = {"before": before, "after": after}
            changes["all_departments"] = everywhere
            user.all_departments = everywhere
            user.departments.set(departments)
    if changes:
        user.save(update_fields=["first_name", "last_name", "role", "all_departments"])
    return changes


def _link_placeholders(user: User, snils: str) -> tuple[tuple[int, ...], tuple]:
    """Move the consultations of placeholder citizens with this SNILS to `user`.

    Each linked placeholder is deactivated and journaled with the ids of the
    consultations it had. Only placeholders are linked: another citizen's own
    account is never merged, because anyone can type a SNILS into their
    identifiers.
    """
    index_key = records.load_index_key(encryption.load_master_key())
    digest = records.digest("snils", snils, index_key)
    owner_ids = (
        IdentifierIndex.objects.filter(field="snils", digest=digest)
        .exclude(record__user=user)
        .values_list("record__user_id", flat=True)
    )
    placeholders = User.objects.select_for_update().filter(
        pk__in=list(owner_ids), is_placeholder=True, is_active=True, role=Role.CITIZEN
    )

    linked_accounts, linked_consultations = [], []
    for placeholder in placeholders.order_by("pk"):
        consultation_ids = list(
            Consultation.objects.filter(citizen=placeholder)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        Consultation.objects.filter(pk__in=consultation_ids).update(
            citizen=user, version=F("version") + 1
        )
        placeholder.is_active = False
        placeholder.save(update_fields=["is_active"])
        # NOTE: recorded as personal_data:lookup, the lookup by the SNILS's
        # HMAC that found the placeholder, because JournalAction has no
        # account-link action; use one when the journal app adds it.
        journal.record(
            JournalAction.PERSONAL_DATA_LOOKUP,
            actor=user,
            object_type="user",
            object_id=placeholder.pk,
            object_label=placeholder.username,
            before={"citizen": placeholder.pk},
            after={
                "purpose": "link",
                "field": "snils",
                "linked_to": user.pk,
                "consultations": consultation_ids,
            },
        )
        linked_accounts.append(placeholder.pk)
        linked_consultations.extend(consultation_ids)
        log.info(
            "placeholder_linked",
            user_id=user.pk,
            placeholder_id=placeholder.pk,
            consultations=len(consultation_ids),
        )
    return tuple(linked_accounts), tuple(linked_consultations)
