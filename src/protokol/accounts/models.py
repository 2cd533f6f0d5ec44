"""Users, their roles and the departments they belong to."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from protokol.personal.models import EncryptedRecord, IndexEntry


class Role(models.TextChoices):
    CITIZEN = "citizen", _("гражданин")
    OPERATOR = "operator", _("оператор")
    REVIEWER = "reviewer", _("специалист отдела")
    SUPERVISOR = "supervisor", _("руководитель")
    AUDITOR = "auditor", _("аудитор")
    ADMIN = "admin", _("администратор")


STAFF_ROLES = frozenset(
    {Role.OPERATOR, Role.REVIEWER, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN}
)


class Department(models.Model):
    """An authority or a unit of one that answers consultations."""

    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=300, unique=True)
    name_en = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A person who signs in: a citizen or a member of staff with one role."""

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.CITIZEN)
    departments = models.ManyToManyField(Department, blank=True, related_name="staff")
    # Supervisors, auditors and admins of the whole organisation see every
    # department, including departments created after their account.
    all_departments = models.BooleanField(default=False)
    # Accounts created by imports stand for citizens who never signed in here.
    is_placeholder = models.BooleanField(default=False)

    @property
    def is_citizen(self) -> bool:
        return self.role == Role.CITIZEN

    @property
    def is_staff_member(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


class ApiToken(models.Model):
    """A bearer token for the HTTP API; only its SHA-256 is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    # Created from a page session that confirmed a TOTP code; outside demo
    # mode a staff member's token works only then.
    second_factor = models.BooleanField(default=False)


class CitizenIdentifiers(EncryptedRecord):
    """A citizen's phone, passport, ИНН, СНИЛС and postal address, encrypted."""

    user = models.OneToOneField(
        User, on_delete=models.CASCADE, related_name="identifiers"
    )


class IdentifierIndex(IndexEntry):
    """HMAC of one of a citizen's identifiers, for finding the citizen by it."""

    record = models.ForeignKey(
        CitizenIdentifiers, on_delete=models.CASCADE, related_name="index_entries"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["record", "field"], name="identifier_index_one_per_field"
            )
        ]


class Provider(models.TextChoices):
    """The identity providers an account may sign in through."""

    CITIZEN_OIDC = "oidc", _("OpenID Connect")
    ESIA = "esia", _("ЕСИА (Госуслуги)")
    STAFF_OIDC = "oidc_staff", _("OpenID Connect организации")


class ExternalIdentity(models.Model):
    """An account's identity at an OpenID provider: the issuer's `sub` for it."""

    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="external_identities"
    )
    provider = models.CharField(max_length=16, choices=Provider.choices)
    issuer = models.CharField(max_length=300)
    subject = models.CharField(max_length=255)
    # The provider vouched for the person's identity (ESIA's "trusted" account,
    # or the configured verified claim) at the last sign-in.
    verified = models.BooleanField(default=False)
    created_at = models.DateTimeField()
    last_login_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "subject"], name="external_identity_unique_subject"
            )
        ]
