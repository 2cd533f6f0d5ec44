"""HTTP API of notifications, mounted at /api/v1/notifications.

Every signed-in user reads and marks their own notifications and sets their
channels; webhooks and the dead-letter list are for administrators.
"""

from datetime import datetime
from typing import Annotated

from ninja import Router, Schema, Status
from pydantic import BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from protokol.api.schemas import PathInt
from protokol.notifications import services
from protokol.notifications.texts import describe
from protokol.web.paging import check_page

router = Router(tags=["notifications"])


class NotificationOut(Schema):
    id: int
    event: str
    consultation_id: int
    text: str
    created_at: datetime
    read_at: datetime | None


class NotificationListOut(Schema):
    unread: int
    items: list[NotificationOut]


# Row ids are 64-bit integers on both databases; a larger number names no row
# and would overflow SQLite's integer.
RowId = Annotated[int, Field(ge=1, le=2**63 - 1)]


def _not_null(value):
    # Only a missing field means all rows. A null often comes from a
    # client's unset variable, so acting on every row is not what it meant.
    if value is None:
        raise PydanticCustomError("list_type", "Input should be a valid list")
    return value


# Ids of the rows to act on; a missing field means all of them. A null gets
# 422 "ids must be a list." because the before-validator runs on a given
# null but not on the default of a missing field.
IdList = Annotated[list[RowId] | None, BeforeValidator(_not_null)]


class MarkReadIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    # Ids to mark read; omitted marks all unread ones.
    ids: IdList = None


class MarkReadOut(Schema):
    marked: int
    unread: int


class PreferencesIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    email: bool


class PreferencesOut(Schema):
    in_app: bool
    email: bool


class WebhookIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str
    url: str
    department: str | None = None
    events: list[str] = []
    include_internal: bool = False


class WebhookOut(Schema):
    id: int
    name: str
    url: str
    department: str | None
    events: list[str]
    include_internal: bool
    active: bool


class WebhookCreatedOut(WebhookOut):
    # Returned only in the response that creates the webhook.
    secret: str


class DeliveryOut(Schema):
    id: int
    channel: str
    event: str
    consultation_id: int
    webhook_id: int | None
    recipient_id: int | None
    attempts: int
    last_error: str
    created_at: datetime


class ReplayIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    # Delivery ids to replay; omitted replays the whole list.
    ids: IdList = None


class ReplayOut(Schema):
    replayed: list[int]


def _notification_out(notification) -> dict:
    return {
        "id": notification.pk,
        "event": notification.kind,
        "consultation_id": notification.consultation_id,
        "text": describe(notification.kind, notification.params),
        "created_at": notification.created_at,
        "read_at": notification.read_at,
    }


def _webhook_out(webhook) -> dict:
    return {
        "id": webhook.pk,
        "name": webhook.name,
        "url": webhook.url,
        "department": webhook.department.code if webhook.department else None,
        "events": webhook.events,
        "include_internal": webhook.include_internal,
        "active": webhook.active,
    }


@router.get("", response=NotificationListOut)
def list_notifications(request, unread_only: bool = False, limit: int = 50):
    """Return the caller's notifications, newest first, and the unread count."""
    check_page(limit, 0, max_limit=200)
    notifications = services.notifications_of(request.user)
    if unread_only:
        notifications = notifications.filter(read_at__isnull=True)
    return {
        "unread": services.unread_count(request.user),
        "items": [_notification_out(n) for n in notifications[:limit]],
    }


@router.post("/read", response=MarkReadOut)
def mark_read(request, body: MarkReadIn):
    """Mark the caller's notifications read: the listed ids, or all."""
    marked = services.mark_read(request.user, body.ids)
    return {"marked": marked, "unread": services.unread_count(request.user)}


@router.get("/preferences", response=PreferencesOut)
def get_preferences(request):
    """Return the caller's channels; in-app notifications are always on."""
    return {"in_app": True, "email": services.preferences(request.user).email}


@router.put("/preferences", response=PreferencesOut)
def put_preferences(request, body: PreferencesIn):
    """Turn the caller's e-mail notifications on or off."""
    preference = services.set_preferences(request.user, email=body.email)
    return {"in_app": True, "email": preference.email}


@router.get("/webhooks", response=list[WebhookOut])
def list_webhooks(request):
    """Return the registered webhooks without their secrets (admins)."""
    return [_webhook_out(w) for w in services.list_webhooks(request.user)]


@router.post("/webhooks", response={201: WebhookCreatedOut})
def create_webhook(request, body: WebhookIn):
    """Register a webhook; the response contains its signing secret, returned once."""
    webhook = services.create_webhook(
        request.user,
        name=body.name,
        url=body.url,
        department=body.department,
        events=body.events,
        include_internal=body.include_internal,
    )
    return Status(201, {**_webhook_out(webhook), "secret": webhook.secret})


@router.delete("/webhooks/{webhook_id}", response={204: None})
def delete_webhook(request, webhook_id: PathInt):
    """Remove a webhook and its deliveries (admins)."""
    services.delete_webhook(request.user, webhook_id)
    return Status(204, None)


@router.get("/dead-letters", response=list[DeliveryOut])
def list_dead_letters(request):
    """Return the deliveries that failed every attempt (admins)."""
    return [
        {
            "id": d.pk,
            "channel": d.channel,
            "event": d.event.kind,
            "consultation_id": d.event.consultation_id,
            "webhook_id": d.webhook_id,
            "recipient_id": d.recipient_id,
            "attempts": d.attempts,
            "last_error": d.last_error,
            "created_at": d.created_at,
        }
        for d in services.dead_letters(request.user)
    ]


@router.post("/dead-letters/replay", response=ReplayOut)
def replay_dead_letters(request, body: ReplayIn):
    """Queue dead deliveries again: the listed ids, or all (admins)."""
    return {"replayed": services.replay(request.user, body.ids)}
