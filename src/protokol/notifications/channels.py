"""Sending one delivery: e-mail through Django's SMTP backend, signed webhooks."""

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import translation
from django.utils.translation import gettext

from protokol.errors import ValidationFailed
from protokol.notifications.models import Delivery, Event
from protokol.notifications.texts import describe, template_text

SIGNATURE_HEADER = "X-Protokol-Signature"
TIMESTAMP_HEADER = "X-Protokol-Timestamp"
WEBHOOK_TIMEOUT_SECONDS = 10


class DeliveryFailed(Exception):
    """A channel could not deliver; the delivery is retried later."""


class DeliveryBlocked(DeliveryFailed):
    """The message cannot be composed; retrying cannot help until data changes."""


def email_enabled() -> bool:
    """Return whether PROTOKOL_EMAIL_URL configures an SMTP server."""
    return bool(settings.CONFIG.email_url)


def send_email(delivery: Delivery) -> None:
    """Send the event's text to the recipient's address, in Russian.

    The citizen's e-mail body is the event's answer template when one is
    set up (texts.template_text); a template that cannot be filled in
    blocks the e-mail and names the unknown variable.
    """
    event = delivery.event
    with translation.override(settings.LANGUAGE_CODE):
        text = describe(event.kind, event.params)
        subject = gettext("Протокол консультаций: %(text)s") % {"text": text}
        try:
            body = template_text(event, delivery.recipient) or text
        except ValidationFailed as error:
            raise DeliveryBlocked(f"template: {error.message}") from error
    message = EmailMessage(
        subject=subject[:200],
        body=body + "\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[delivery.recipient.email],
        headers={"Message-ID": message_id(delivery)},
    )
    try:
        message.send(fail_silently=False)
    except OSError as error:
        # smtplib's errors derive from OSError, as do refused connections.
        raise DeliveryFailed(f"SMTP: {error}") from error


def message_id(delivery: Delivery) -> str:
    """Return the delivery's fixed Message-ID, the same on every resend.

    A delivery is sent again when its task died between sending and
    recording it; mail clients and archives that deduplicate by Message-ID
    then show it once.
    """
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    domain = address.rpartition("@")[2] or "localhost"
    return f"<protokol.delivery.{delivery.pk}.{delivery.event_id}@{domain}>"


def webhook_body(event: Event) -> bytes:
    """Return the JSON body of a webhook call: ids and short facts, no texts."""
    body = {
        "id": event.key,
        "event": event.kind,
        "consultation_id": event.consultation_id,
        "journal_index": event.journal_index,
        "public": event.public,
        "params": event.params,
        "created_at": event.created_at.isoformat(),
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True).encode()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Return "sha256=<hex>" of HMAC-SHA256(secret, timestamp + "." + body)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def send_webhook(delivery: Delivery) -> None:
    """POST the signed event; any response status other than 2xx is a failure."""
    webhook = delivery.webhook
    body = webhook_body(delivery.event)
    timestamp = str(int(time.time()))
    request = urllib.request.Request(
        webhook.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Protokol-Webhook/1",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(webhook.secret, timestamp, body),
            "X-Protokol-Delivery": str(delivery.pk),
        },
    )
    try:
        with urllib.request.urlopen(
            request, timeout=WEBHOOK_TIMEOUT_SECONDS
        ) as response:
            response.read(1024)
    except urllib.error.HTTPError as error:
        raise DeliveryFailed(f"HTTP {error.code} from {webhook.url}") from error
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise DeliveryFailed(f"{webhook.url}: {error}") from error
