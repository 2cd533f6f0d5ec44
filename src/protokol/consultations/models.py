"""Consultations, their dialogue, attachments and lifecycle transitions."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from protokol.accounts.models import Department
from protokol.catalog.models import Service
from protokol.personal.models import EncryptedRecord, IndexEntry


class Status(models.TextChoices):
    INITIATED = "initiated", _("зарегистрирована")
    DATA_REQUESTED = "data_requested", _("запрошены данные")
    DRAFTING = "drafting", _("подготовка протокола")
    IN_REVIEW = "in_review", _("на согласовании")
    APPROVED = "approved", _("согласована")
    SIGNED = "signed", _("подписана")
    ARCHIVED = "archived", _("в архиве")
    WITHDRAWN = "withdrawn", _("отозвана")
    DISPUTED = "disputed", _("оспорена")


class Channel(models.TextChoices):
    WEB = "web", _("личный кабинет")
    API = "api", _("API")
    PHONE = "phone", _("телефон")
    MFC = "mfc", _("МФЦ")
    PORTAL = "portal", _("городской портал")


class Visibility(models.TextChoices):
    PUBLIC = "public", _("видно гражданину")
    INTERNAL = "internal", _("внутреннее")


class NumberSequence(models.Model):
    """The last consultation number issued in a year."""

    year = models.PositiveIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)


class Consultation(models.Model):
    """One citizen's request and everything recorded while answering it."""

    number = models.CharField(max_length=32, unique=True)
    citizen = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="+")
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, related_name="consultations"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    subject = models.CharField(max_length=300)
    description = models.TextField()
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.INITIATED
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)
    district = models.CharField(max_length=100, blank=True)
    # Identifier in the system the consultation was imported from.
    external_ref = models.CharField(max_length=64, null=True, blank=True, unique=True)
    # Number and subject case-folded in Python, because SQLite's LIKE folds
    # only ASCII letters and Cyrillic search must ignore case on both databases.
    search_text = models.TextField(blank=True, default="", editable=False)
    # Raised by one in the transaction of every write, under the row lock, so
    # a write based on an older version is rejected (optimistic concurrency).
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["department", "status", "-created_at"]),
            models.Index(fields=["citizen", "-created_at"]),
            models.Index(fields=["status", "-created_at"]),
            # The lists of organisation-wide staff read the newest consultations
            # of all departments; without it each page sorts the whole table.
            models.Index(
                fields=["-created_at", "-id"], name="consultation_created_id_desc"
            ),
        ]

    def __str__(self) -> str:
        return self.number

    def save(self, *args, **kwargs):
        self.search_text = search_key(f"{self.number} {self.subject}")
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "search_text"}
        super().save(*args, **kwargs)


def search_key(text: str) -> str:
    """Return `text` in the form stored in search_text and compared with queries."""
    return " ".join(text.casefold().split())


class Message(models.Model):
    """One utterance in the dialogue, public or internal to staff."""

    consultation = models.ForeignKey(
        Consultation, on_delete=models.PROTECT, related_name="messages"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    # Name and role as they were when written, so renames leave history intact.
    author_name = models.CharField(max_length=300)
    author_role = models.CharField(max_length=16)
    text = models.TextField()
    visibility = models.CharField(max_length=8, choices=Visibility.choices)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["consultation", "created_at"])]


class Attachment(models.Model):
    """A file added to a consultation, stored under a generated key."""

    consultation = models.ForeignKey(
        Consultation, on_delete=models.PROTECT, related_name="attachments"
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=127)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    storage_key = models.CharField(max_length=80, unique=True)
    created_at = models.DateTimeField()
    # Envelope encryption (consultations/encryption.py): the file under
    # storage_key contains AES-256-GCM ciphertext under a per-file data key,
    # stored here wrapped under the master key `encryption_key_id`. Rows
    # written before encryption have no wrapped key (NULL): their files are
    # plaintext and are served as stored.
    encryption_key_id = models.CharField(max_length=16, blank=True, default="")
    wrapped_key = models.BinaryField(null=True, blank=True)
    wrap_nonce = models.BinaryField(null=True, blank=True)
    content_nonce = models.BinaryField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]


class Transition(models.Model):
    """One step of the lifecycle: who moved the consultation from where to where."""

    consultation = models.ForeignKey(
        Consultation, on_delete=models.PROTECT, related_name="transitions"
    )
    action = models.CharField(max_length=32)
    from_status = models.CharField(max_length=16, choices=Status.choices)
    to_status = models.CharField(max_length=16, choices=Status.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_name = models.CharField(max_length=300)
    actor_role = models.CharField(max_length=16)
    comment = models.TextField(blank=True)
    # Extra facts of the step, e.g. the departments and deadlines of a forward.
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["consultation", "created_at"])]


class CollectedData(EncryptedRecord):
    """The values of the service's required fields given for a consultation."""

    consultation = models.OneToOneField(
        Consultation, on_delete=models.PROTECT, related_name="collected_data"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )


class CollectedDataIndex(IndexEntry):
    """HMAC of one collected value, for finding consultations by it."""

    record = models.ForeignKey(
        CollectedData, on_delete=models.CASCADE, related_name="index_entries"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["record", "field"], name="collected_index_one_per_field"
            )
        ]


class IndexKey(models.Model):
    """The key of the personal-data HMAC index, wrapped under the master key.

    It is created once on first use and never changes when the master key is
    rotated (only re-wrapped), so stored digests stay valid.
    """

    name = models.CharField(max_length=32, unique=True)
    encryption_key_id = models.CharField(max_length=16)
    wrapped_key = models.BinaryField()
    wrap_nonce = models.BinaryField()
    created_at = models.DateTimeField()


class DataRequest(models.Model):
    """An operator's request for data fields and documents, and its answer."""

    consultation = models.ForeignKey(
        Consultation, on_delete=models.PROTECT, related_name="data_requests"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # Names of the service's value fields the citizen is asked to give.
    fields = models.JSONField(default=list, blank=True)
    comment = models.TextField()
    created_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["created_at", "id"]


class DocumentStatus(models.TextChoices):
    REQUESTED = "requested", _("запрошен")
    RECEIVED = "received", _("получен")
    ACCEPTED = "accepted", _("принят")
    REJECTED = "rejected", _("отклонён")


class RequestedDocument(models.Model):
    """One document on a consultation's checklist, with its review status."""

    data_request = models.ForeignKey(
        DataRequest, on_delete=models.PROTECT, related_name="documents"
    )
    consultation = models.ForeignKey(
        Consultation, on_delete=models.PROTECT, related_name="requested_documents"
    )
    name = models.CharField(max_length=300)
    # The service's file field it was picked from, or empty for a named one.
    field = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        max_length=16, choices=DocumentStatus.choices, default=DocumentStatus.REQUESTED
    )
    # Why the operator rejected the document; required with `rejected`.
    reason = models.TextField(blank=True)
    # The file last uploaded against it.
    attachment = models.ForeignKey(
        Attachment, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField()
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["id"]


class PrefillConsent(models.Model):
    """A citizen's choice to prefill data request forms with earlier values."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    enabled = models.BooleanField(default=False)
    updated_at = models.DateTimeField()
