"""Notification events, their deliveries, and what users and admins change."""

import secrets
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext

from protokol.accounts.models import Department, Role
from protokol.consultations.models import Consultation
from protokol.errors import NotFound, PermissionDenied, ValidationFailed
from protokol.journal import services as journal
from protokol.journal.models import JournalAction, JournalEntry
from protokol.notifications import channels
from protokol.notifications.events import SOURCE_ACTIONS, classify, recipients
from protokol.notifications.models import (
    ChannelKind,
    Delivery,
    DeliveryStatus,
    Event,
    EventKind,
    Notification,
    Preference,
    Webhook,
)
from protokol.validation import clean_text

log = structlog.get_logger(__name__)

# Ids in one mark-read or replay request. A query takes at most 65,535
# parameters on PostgreSQL, and on SQLite 32,766 by default since 3.32.
MAX_IDS = 1000

# Journal actions of webhook changes.
WEBHOOK_CREATE = JournalAction.WEBHOOK_CREATE
WEBHOOK_DELETE = JournalAction.WEBHOOK_DELETE

# How long a sending task keeps its claim on a delivery; above the webhook timeout.
LEASE = timedelta(seconds=4 * channels.WEBHOOK_TIMEOUT_SECONDS)
SENDERS = {
    ChannelKind.EMAIL: channels.send_email,
    ChannelKind.WEBHOOK: channels.send_webhook,
}


# -- events


def event_from_entry(index: int) -> Event | None:
    """Store the event of journal entry `index` once; None if it has none."""
    entry = JournalEntry.objects.filter(index=index).first()
    if entry is None or entry.action not in SOURCE_ACTIONS:
        return None
    # The consultation number of a format 2 entry is in its payload's label.
    found = classify(journal.with_payloads([entry])[0])
    if found is None:
        return None
    event, _ = Event.objects.get_or_create(
        key=f"journal:{index}",
        defaults={
            "kind": found.kind,
            "consultation_id": entry.consultation_id,
            "journal_index": index,
            "actor_id": entry.actor_id,
            "public": found.public,
            "params": found.params,
            "created_at": entry.created_at,
        },
    )
    return event


def record_deadline_event(
    consultation: Consultation, target: str, kind: str, due_at: datetime
) -> Event | None:
    """Store a deadline warning or breach once per consultation × target × kind.

    Returns the new event, or None when it was stored before.
    """
    event, created = Event.objects.get_or_create(
        key=f"deadline:{consultation.pk}:{target}:{kind}",
        defaults={
            "kind": kind,
            "consultation_id": consultation.pk,
            "public": False,
            "params": {
                "number": consultation.number,
                "target": target,
                "due_at": due_at.isoformat(),
            },
            "created_at": timezone.now(),
        },
    )
    return event if created else None


# -- deliveries


def _email_wanted(user) -> bool:
    if not channels.email_enabled() or not user.email:
        return False
    preference = Preference.objects.filter(user=user).first()
    return preference is None or preference.email


def _webhooks_for(event: Event, consultation: Consultation) -> list[Webhook]:
    hooks = Webhook.objects.filter(active=True).filter(
        Q(department__isnull=True) | Q(department_id=consultation.department_id)
    )
    return [
        hook
        for hook in hooks
        if (not hook.events or event.kind in hook.events)
        and (event.public or hook.include_internal)
    ]


def plan_deliveries(event: Event) -> list[int]:
    """Create the event's deliveries and write its in-app notifications.

    Safe to run twice: each delivery has a unique key, and an in-app
    notification is written only with the delivery row that is new.
    Returns the ids of the pending e-mail and webhook deliveries.
    """
    consultation = Consultation.objects.select_related("citizen", "assignee").get(
        pk=event.consultation_id
    )
    users = recipients(
        event.kind, event.public, event.params, consultation, event.actor_id
    )
    now = timezone.now()
    pending = []

    with transaction.atomic():
        for user in users:
            _, created = Delivery.objects.get_or_create(
                key=f"{event.pk}:{ChannelKind.IN_APP}:{user.pk}",
                defaults={
                    "event": event,
                    "channel": ChannelKind.IN_APP,
                    "recipient": user,
                    "status": DeliveryStatus.SENT,
                    "attempts": 1,
                    "created_at": now,
                    "sent_at": now,
                },
            )
            if created:
                Notification.objects.create(
                    recipient=user,
                    event=event,
                    kind=event.kind,
                    consultation_id=event.consultation_id,
                    params=event.params,
                    created_at=now,
                )
            if _email_wanted(user):
                pending.append(
                    _pending(
                        event, ChannelKind.EMAIL, f"u{user.pk}", now, recipient=user
                    )
                )
        for hook in _webhooks_for(event, consultation):
            pending.append(
                _pending(event, ChannelKind.WEBHOOK, f"w{hook.pk}", now, webhook=hook)
            )

    log.info(
        "notification_planned",
        event_id=event.pk,
        kind=event.kind,
        recipients=len(users),
        pending=len(pending),
    )
    return [delivery.pk for delivery in pending if delivery.attempts == 0]


def _pending(event, channel, target, now, **fields) -> Delivery:
    delivery, _ = Delivery.objects.get_or_create(
        key=f"{event.pk}:{channel}:{target}",
        defaults={"event": event, "channel": channel, "created_at": now, **fields},
    )
    return delivery


def retry_delay(attempts: int) -> timedelta:
    """Return the wait after the `attempts`-th failure: base × 2^(attempts-1)."""
    base = settings.CONFIG.notify_retry_base_seconds
    return timedelta(seconds=base * 2 ** (attempts - 1))


def attempt_delivery(delivery_id: int) -> datetime | None:
    """Send one pending delivery once; return when to retry it, or None.

    A delivery that is sent or dead is left alone, so a task that runs twice
    sends once. A delivery that another task claimed less than LEASE ago is
    retried when the claim expires: that task may have died after the claim
    (its worker was killed and `protokol worker` requeued it), and then the
    delivery is sent again with the same X-Protokol-Delivery id or
    Message-ID. After PROTOKOL_NOTIFY_MAX_ATTEMPTS failures the delivery is
    dead: it waits in the dead-letter list for a replay.
    """
    now = timezone.now()
    claimed = (
        Delivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .update(locked_until=now + LEASE, attempts=F("attempts") + 1)
    )
    if not claimed:
        return _claim_expiry(delivery_id, now)
    delivery = Delivery.objects.select_related("event", "recipient", "webhook").get(
        pk=delivery_id
    )

    try:
        SENDERS[delivery.channel](delivery)
    except channels.DeliveryBlocked as error:
        return _record_failure(delivery, str(error), permanent=True)
    except channels.DeliveryFailed as error:
        return _record_failure(delivery, str(error))

    delivery.status = DeliveryStatus.SENT
    delivery.sent_at = timezone.now()
    delivery.locked_until = None
    delivery.next_attempt_at = None
    delivery.save(
        update_fields=["status", "sent_at", "locked_until", "next_attempt_at"]
    )
    log.info(
        "notification_sent",
        delivery_id=delivery.pk,
        channel=delivery.channel,
        attempts=delivery.attempts,
    )
    return None


def _claim_expiry(delivery_id: int, now: datetime) -> datetime | None:
    """Return when another task's claim on a pending delivery expires, or None."""
    locked_until = (
        Delivery.objects.filter(
            pk=delivery_id, status=DeliveryStatus.PENDING, locked_until__gte=now
        )
        .values_list("locked_until", flat=True)
        .first()
    )
    if locked_until is not None:
        log.info(
            "notification_claimed_elsewhere",
            delivery_id=delivery_id,
            retry_at=locked_until.isoformat(),
        )
    return locked_until


def _record_failure(
    delivery: Delivery, error: str, *, permanent: bool = False
) -> datetime | None:
    """Schedule the next attempt, or move the delivery to the dead letters.

    A permanent failure, such as a notification template that cannot be
    filled in, goes to the dead letters at once; replay it once fixed.
    """
    delivery.last_error = error[:2000]
    delivery.locked_until = None
    retry_at = None
    if permanent or delivery.attempts >= settings.CONFIG.notify_max_attempts:
        delivery.status = DeliveryStatus.DEAD
        delivery.next_attempt_at = None
        log.warning(
            "notification_dead",
            delivery_id=delivery.pk,
            channel=delivery.channel,
            attempts=delivery.attempts,
            error=error,
        )
    else:
        retry_at = timezone.now() + retry_delay(delivery.attempts)
        delivery.next_attempt_at = retry_at
        log.info(
            "notification_retry",
            delivery_id=delivery.pk,
            channel=delivery.channel,
            attempts=delivery.attempts,
            retry_at=retry_at.isoformat(),
            error=error,
        )
    delivery.save(
        update_fields=["status", "last_error", "locked_until", "next_attempt_at"]
    )
    return retry_at


# -- the dead-letter list


def _check_webhook_url(url) -> None:
    """Raise 422 unless `url` is an http:// or https:// address to send to."""
    if not isinstance(url, str) or not _is_http_address(url):
        raise ValidationFailed(
            gettext(
                "url must be an http:// or https:// address of up to 500 characters."
            ),
            field="url",
        )
    if any(c.isspace() for c in url) or not url.isprintable():
        raise ValidationFailed(
            gettext(
                "url contains spaces or control characters; percent-encode them, "
                "e.g. %(space)s for a space."
            )
            % {"space": "%20"},
            field="url",
        )


def _is_http_address(url: str) -> bool:
    try:
        parts = urlsplit(url)
        # Reading the port raises ValueError for one above 65535.
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and port != 0
        and len(url) <= 500
    )


def _require_admin(actor) -> None:
    if actor.role != Role.ADMIN:
        raise PermissionDenied(
            gettext("Only an administrator may manage webhooks and dead letters."),
            field="role",
        )


def dead_letters(actor=None):
    """Return the dead deliveries, oldest first; `actor` must be an admin."""
    if actor is not None:
        _require_admin(actor)
    return Delivery.objects.filter(status=DeliveryStatus.DEAD).select_related(
        "event", "webhook"
    )


def replay(actor, delivery_ids: list[int] | None) -> list[int]:
    """Make dead deliveries pending again and queue them; None replays all.

    `actor` None is the command line. Returns the ids queued; an id that is
    not dead raises NotFound and nothing is replayed.
    """
    if actor is not None:
        _require_admin(actor)
    from protokol.notifications.tasks import deliver

    _check_ids(delivery_ids)
    with transaction.atomic():
        dead = Delivery.objects.select_for_update().filter(status=DeliveryStatus.DEAD)
        if delivery_ids is not None:
            dead = dead.filter(pk__in=delivery_ids)
        ids = list(dead.values_list("pk", flat=True))
        missing = sorted(set(delivery_ids or []) - set(ids))
        if missing:
            raise NotFound(
                gettext("Delivery %(id)s is not in the dead-letter list.")
                % {"id": missing[0]},
                field="ids",
            )
        Delivery.objects.filter(pk__in=ids).update(
            status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=None
        )
        for delivery_id in ids:
            deliver.enqueue(delivery_id)
    log.info("notification_replay", deliveries=ids)
    return ids


# -- webhooks


def create_webhook(
    actor,
    *,
    name: str,
    url: str,
    department: str | None = None,
    events: list[str] | None = None,
    include_internal: bool = False,
) -> Webhook:
    """Register a webhook and return it with its generated secret."""
    if actor is not None:
        _require_admin(actor)
    name = clean_text(name, field="name", max_length=200)
    _check_webhook_url(url)
    # An event counts once, so a repeated name would only lengthen the list.
    events = list(dict.fromkeys(events or []))
    unknown = [kind for kind in events if kind not in EventKind.values]
    if unknown:
        raise ValidationFailed(
            gettext("Unknown event '%(event)s'; use one of %(events)s.")
            % {"event": unknown[0], "events": ", ".join(EventKind.values)},
            field="events",
        )
    department_row = None
    if department:
        department_row = Department.objects.filter(code=department).first()
        if department_row is None:
            raise ValidationFailed(
                gettext("Unknown department '%(code)s'.") % {"code": department},
                field="department",
            )

    with transaction.atomic():
        webhook = Webhook.objects.create(
            name=name,
            url=url,
            secret=secrets.token_urlsafe(32),
            department=department_row,
            events=events,
            include_internal=include_internal,
            created_at=timezone.now(),
        )
        journal.record(
            WEBHOOK_CREATE,
            actor=actor,
            object_type="webhook",
            object_id=webhook.pk,
            object_label=name,
            after=_webhook_facts(webhook),
        )
    log.info("webhook_created", webhook_id=webhook.pk, department=department)
    return webhook


def _webhook_facts(webhook: Webhook) -> dict:
    """Return what a journal entry records of a webhook: never its secret."""
    return {
        "name": webhook.name,
        "url": webhook.url,
        "department": webhook.department.code if webhook.department_id else None,
        "events": webhook.events,
        "include_internal": webhook.include_internal,
    }


def list_webhooks(actor):
    _require_admin(actor)
    return Webhook.objects.select_related("department")


def delete_webhook(actor, webhook_id: int) -> None:
    """Remove a webhook together with its deliveries."""
    _require_admin(actor)
    with transaction.atomic():
        # Only the webhook row: PostgreSQL cannot lock the outer-joined department.
        webhook = (
            Webhook.objects.select_for_update(of=("self",))
            .select_related("department")
            .filter(pk=webhook_id)
            .first()
        )
        if webhook is None:
            raise NotFound(gettext("No such webhook."), field="webhook_id")
        before = _webhook_facts(webhook)
        webhook.delete()
        journal.record(
            WEBHOOK_DELETE,
            actor=actor,
            object_type="webhook",
            object_id=webhook_id,
            object_label=before["name"],
            before=before,
        )
    log.info("webhook_deleted", webhook_id=webhook_id)


# -- a user's notifications and preferences


def notifications_of(user):
    return Notification.objects.filter(recipient=user)


def unread_count(user) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def _check_ids(ids: list[int] | None) -> None:
    """Raise 422 for a list of more ids than one query may take."""
    if ids is not None and len(ids) > MAX_IDS:
        raise ValidationFailed(
            gettext(
                "ids lists %(count)d ids; the maximum is %(max)d, so send them "
                "in parts."
            )
            % {"count": len(ids), "max": MAX_IDS},
            field="ids",
        )


def mark_read(user, notification_ids: list[int] | None) -> int:
    """Mark the user's notifications read (all unread ones for None); return how many.

    Ids of other users' notifications raise NotFound and nothing changes.
    """
    _check_ids(notification_ids)
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if notification_ids is not None:
        own = set(
            Notification.objects.filter(
                recipient=user, pk__in=notification_ids
            ).values_list("pk", flat=True)
        )
        missing = sorted(set(notification_ids) - own)
        if missing:
            raise NotFound(
                gettext("Notification %(id)s not found.") % {"id": missing[0]},
                field="ids",
            )
        unread = unread.filter(pk__in=notification_ids)
    return unread.update(read_at=timezone.now())


def preferences(user) -> Preference:
    preference, _ = Preference.objects.get_or_create(user=user)
    return preference


def set_preferences(user, *, email: bool) -> Preference:
    """Turn e-mail notifications on or off; in-app ones cannot be turned off."""
    if not isinstance(email, bool):
        raise ValidationFailed(gettext("email must be true or false."), field="email")
    preference = preferences(user)
    preference.email = email
    preference.save(update_fields=["email"])
    return preference
