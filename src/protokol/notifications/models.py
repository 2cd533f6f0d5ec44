"""Notification events, their per-recipient deliveries and the channels' settings."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from protokol.accounts.models import Department


class EventKind(models.TextChoices):
    STATUS_CHANGED = "status_changed", _("смена статуса")
    DATA_REQUESTED = "data_requested", _("запрос данных")
    DEADLINE_WARNING = "deadline_warning", _("срок подходит к концу")
    DEADLINE_BREACHED = "deadline_breached", _("срок нарушен")
    PROTOCOL_SIGNED = "protocol_signed", _("протокол подписан")
    DISPUTE_OPENED = "dispute_opened", _("протокол оспорен")
    DISPUTE_CONCLUDED = "dispute_concluded", _("спор рассмотрен")
    MESSAGE_NEW = "message_new", _("новое сообщение")


class ChannelKind(models.TextChoices):
    IN_APP = "in_app", _("в приложении")
    EMAIL = "email", _("электронная почта")
    WEBHOOK = "webhook", _("вебхук")


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("ожидает отправки")
    SENT = "sent", _("отправлено")
    DEAD = "dead", _("не доставлено")


class Event(models.Model):
    """One notifiable fact about a consultation, stored once per source.

    `key` names the source ("journal:<index>" or
    "deadline:<consultation>:<target>:<kind>"), so a fact that is seen twice
    creates one event. `public` is False for facts the citizen must not see,
    such as internal notes and deadline escalations.
    """

    key = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=32, choices=EventKind.choices)
    consultation_id = models.BigIntegerField(db_index=True)
    journal_index = models.BigIntegerField(null=True, blank=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    public = models.BooleanField()
    # Short facts for the text and the webhook body: number, statuses, target.
    # Never message text or other personal data.
    params = models.JSONField(default=dict)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]


class Notification(models.Model):
    """An in-app notification of one user."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=32, choices=EventKind.choices)
    consultation_id = models.BigIntegerField()
    params = models.JSONField(default=dict)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at", "-created_at"])]


class Webhook(models.Model):
    """An HTTP endpoint of a department or an integrator that receives events.

    A webhook without a department receives the events of every department.
    `include_internal` also sends staff-only events (internal notes,
    escalations); the body never contains message text either way.
    """

    name = models.CharField(max_length=200)
    url = models.URLField(max_length=500)
    # Key of the HMAC-SHA256 signature; shown once when the webhook is created.
    secret = models.CharField(max_length=128)
    department = models.ForeignKey(
        Department, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # Event kinds to send; an empty list sends every kind.
    events = models.JSONField(default=list, blank=True)
    include_internal = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]


class Delivery(models.Model):
    """One event to one recipient on one channel; sent at most once.

    `key` is "<event>:<channel>:<user or webhook id>", unique, so a task that
    runs twice finds the row and does not send again.
    """

    key = models.CharField(max_length=160, unique=True)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=16, choices=ChannelKind.choices)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    webhook = models.ForeignKey(
        Webhook, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Set while one task is sending, so a second task for the same row skips
    # it. The claim expires, so a repeated task can send after a worker died.
    locked_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "channel"])]


class Preference(models.Model):
    """A user's choice of channels; in-app notifications are always on."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    email = models.BooleanField(default=True)
