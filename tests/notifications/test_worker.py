"""End to end through the db_worker subprocess, a real SMTP server and webhooks."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from protokol.consultations import services as consultations
from protokol.consultations.models import Consultation
from protokol.journal.models import JournalEntry
from protokol.notifications import services
from protokol.notifications.models import (
    ChannelKind,
    Delivery,
    DeliveryStatus,
    Event,
    EventKind,
    Notification,
)
from protokol.notifications.tasks import deliver, dispatch_entry
from protokol.workflow.deadlines import consultation_deadlines

from .conftest import MAX_ATTEMPTS, verify_signature, wait_for

pytestmark = pytest.mark.usefixtures("worker")

INTERNAL_TEXT = "Внутренняя заметка: проверить паспорт заявителя 4711"


def open_consultation(people):
    return consultations.create_consultation(
        people["citizen"],
        service_code="GEN",
        subject="Пособие на ребёнка",
        description="Какие документы нужны для оформления пособия?",
    )


def add_webhook(receiver, **fields):
    return services.create_webhook(None, name="crm", url=receiver.url, **fields)


def settled(event_filter) -> bool:
    """Return whether the matching events exist and their tasks are all done."""
    events = Event.objects.filter(**event_filter)
    if not events.exists() or not tasks_idle():
        return False
    return not Delivery.objects.filter(
        event__in=events, status=DeliveryStatus.PENDING
    ).exists()


def tasks_idle() -> bool:
    return not DBTaskResult.objects.filter(status__in=["READY", "RUNNING"]).exists()


def test_status_change_on_every_channel(people, mailbox, receivers):
    receiver = receivers()
    hook = add_webhook(receiver, department="A")
    consultation = open_consultation(people)

    consultations.transition(people["operator"], consultation.pk, action="take")

    wait_for(lambda: receiver.calls, "the webhook call")
    wait_for(lambda: mailbox.to("citizen@example.org"), "the citizen's e-mail")
    notification = Notification.objects.get(recipient=people["citizen"])
    assert notification.kind == EventKind.STATUS_CHANGED
    assert notification.params["status"] == "drafting"
    assert not Notification.objects.filter(recipient=people["operator"]).exists()

    mail = mailbox.to("citizen@example.org")[0]
    assert consultation.number in mail["Subject"]
    assert "подготовка протокола" in mail.get_content()

    headers, body = receiver.calls[0]
    assert verify_signature(hook.secret, headers, body)
    event = receiver.events()[0]
    assert event["event"] == "status_changed"
    assert event["consultation_id"] == consultation.pk
    assert event["params"]["status"] == "drafting"


def test_internal_note_reaches_no_citizen_channel(people, mailbox, receivers):
    public_hook_receiver = receivers()
    internal_hook_receiver = receivers()
    add_webhook(public_hook_receiver, department="A")
    add_webhook(internal_hook_receiver, department="A", include_internal=True)
    consultation = open_consultation(people)
    consultations.transition(people["operator"], consultation.pk, action="take")
    wait_for(lambda: settled({"kind": EventKind.STATUS_CHANGED}), "the take event")
    mails_before = len(mailbox.to("citizen@example.org"))

    consultations.add_message(
        people["operator"], consultation.pk, text=INTERNAL_TEXT, visibility="internal"
    )
    wait_for(
        lambda: settled({"kind": EventKind.MESSAGE_NEW, "public": False}),
        "the internal note's deliveries",
    )
    wait_for(lambda: len(internal_hook_receiver.calls) == 2, "the internal webhook")
    wait_for(tasks_idle, "the worker to finish")

    internal = Event.objects.get(kind=EventKind.MESSAGE_NEW)
    assert internal.public is False
    citizen_notes = Notification.objects.filter(recipient=people["citizen"])
    assert not citizen_notes.filter(event=internal).exists()
    assert not Delivery.objects.filter(
        event=internal, recipient=people["citizen"]
    ).exists()
    assert len(mailbox.to("citizen@example.org")) == mails_before
    assert [e["event"] for e in public_hook_receiver.events()] == ["status_changed"]
    assert Notification.objects.filter(
        recipient=people["reviewer"], event=internal
    ).exists()

    everything_sent = [
        *mailbox.texts(),
        *[body.decode() for _, body in public_hook_receiver.calls],
        *[body.decode() for _, body in internal_hook_receiver.calls],
        *[str(n.params) for n in Notification.objects.all()],
    ]
    assert not any(INTERNAL_TEXT in text for text in everything_sent)
    assert not any("4711" in text for text in everything_sent)


def test_public_message_reaches_citizen(people, mailbox):
    consultation = open_consultation(people)
    consultations.transition(people["operator"], consultation.pk, action="take")

    consultations.add_message(
        people["operator"],
        consultation.pk,
        text="Ответ гражданину",
        visibility="public",
    )

    wait_for(lambda: len(mailbox.to("citizen@example.org")) == 2, "two e-mails")
    kinds = set(
        Notification.objects.filter(recipient=people["citizen"]).values_list(
            "kind", flat=True
        )
    )
    assert kinds == {EventKind.STATUS_CHANGED, EventKind.MESSAGE_NEW}


def test_email_preference_off_sends_no_email(people, mailbox):
    services.set_preferences(people["citizen"], email=False)
    consultation = open_consultation(people)

    consultations.transition(people["operator"], consultation.pk, action="take")

    wait_for(
        lambda: Notification.objects.filter(recipient=people["citizen"]).exists(),
        "the in-app notification",
    )
    wait_for(tasks_idle, "the worker to finish")
    assert mailbox.to("citizen@example.org") == []
    assert not Delivery.objects.filter(channel=ChannelKind.EMAIL).exists()


def test_task_run_twice_sends_once(people, mailbox, receivers):
    receiver = receivers()
    add_webhook(receiver)
    consultation = open_consultation(people)
    consultations.transition(people["operator"], consultation.pk, action="take")
    wait_for(lambda: settled({"kind": EventKind.STATUS_CHANGED}), "the first run")
    wait_for(tasks_idle, "the worker to finish")
    index = JournalEntry.objects.filter(action="consultation:transition").get().index
    sent = (len(mailbox.messages), len(receiver.calls), Notification.objects.count())

    dispatch_entry.enqueue(index)
    for delivery in Delivery.objects.all():
        deliver.enqueue(delivery.pk)
    wait_for(tasks_idle, "the repeated tasks")

    assert (
        len(mailbox.messages),
        len(receiver.calls),
        Notification.objects.count(),
    ) == sent
    assert sent == (1, 1, 1)


def test_claim_of_dead_task_expires_then_sends(people, mailbox):
    consultation = open_consultation(people)
    consultations.transition(people["operator"], consultation.pk, action="take")
    wait_for(lambda: settled({"kind": EventKind.STATUS_CHANGED}), "the first run")
    mailbox.messages.clear()
    delivery = Delivery.objects.get(channel=ChannelKind.EMAIL)
    # A task that claimed the delivery and died before sending it: the claim
    # runs out in a second.
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.PENDING,
        sent_at=None,
        locked_until=timezone.now() + timedelta(seconds=1),
    )

    deliver.enqueue(delivery.pk)
    wait_for(lambda: mailbox.to("citizen@example.org"), "the e-mail after the claim")
    wait_for(tasks_idle, "the worker to finish")

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.attempts == 2
    (mail,) = mailbox.to("citizen@example.org")
    assert mail["Message-ID"] == (
        f"<protokol.delivery.{delivery.pk}.{delivery.event_id}@localhost>"
    )


def test_webhook_down_then_up_is_retried(people, receivers):
    receiver = receivers(started=False)
    add_webhook(receiver)
    consultation = open_consultation(people)

    consultations.transition(people["operator"], consultation.pk, action="take")

    # A claim raises attempts before the call; the error follows its failure.
    delivery = wait_for(
        lambda: (
            Delivery.objects.filter(channel=ChannelKind.WEBHOOK, attempts__gte=1)
            .exclude(last_error="")
            .first()
        ),
        "the first failed attempt",
    )
    assert delivery.status == DeliveryStatus.PENDING
    assert "refused" in delivery.last_error.lower()
    receiver.start()

    wait_for(lambda: receiver.calls, "the retried call")
    wait_for(lambda: settled({"kind": EventKind.STATUS_CHANGED}), "the delivery")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.attempts >= 2
    assert len(receiver.calls) == 1


def test_failing_webhook_dead_letter_and_replay(people, receivers, client):
    receiver = receivers()
    receiver.failing = True
    add_webhook(receiver)
    consultation = open_consultation(people)
    consultations.transition(people["operator"], consultation.pk, action="take")

    dead = wait_for(
        lambda: Delivery.objects.filter(status=DeliveryStatus.DEAD).first(),
        "the dead letter",
    )
    assert dead.attempts == MAX_ATTEMPTS
    assert "503" in dead.last_error
    assert receiver.calls == []

    token = client.post(
        "/api/v1/auth/token",
        {"username": "admin", "password": "demo"},
        content_type="application/json",
    ).json()["token"]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    listed = client.get("/api/v1/notifications/dead-letters", **auth).json()
    assert [row["id"] for row in listed] == [dead.pk]

    receiver.failing = False
    replayed = client.post(
        "/api/v1/notifications/dead-letters/replay",
        {"ids": [dead.pk]},
        content_type="application/json",
        **auth,
    )
    assert replayed.status_code == 200
    assert replayed.json() == {"replayed": [dead.pk]}

    wait_for(lambda: receiver.calls, "the replayed call")
    wait_for(tasks_idle, "the worker to finish")
    dead.refresh_from_db()
    assert dead.status == DeliveryStatus.SENT
    assert len(receiver.calls) == 1


def test_replay_command(people, receivers, capsys):
    receiver = receivers()
    receiver.failing = True
    add_webhook(receiver)
    consultation = open_consultation(people)
    consultations.transition(people["operator"], consultation.pk, action="take")
    dead = wait_for(
        lambda: Delivery.objects.filter(status=DeliveryStatus.DEAD).first(),
        "the dead letter",
    )

    call_command("notifications", "dead-letters")
    assert f"{dead.pk}\twebhook\t{receiver.url}" in capsys.readouterr().out
    receiver.failing = False
    call_command("notifications", "replay", "--all")

    wait_for(lambda: receiver.calls, "the replayed call")
    assert "1 deliveries queued again" in capsys.readouterr().out


def test_deadline_breach_escalates_once(people, mailbox):
    consultation = open_consultation(people)
    consultations.transition(people["operator"], consultation.pk, action="take")
    wait_for(lambda: settled({"kind": EventKind.STATUS_CHANGED}), "the take event")
    # Opened 60 days ago: every regulation target is past due.
    Consultation.objects.filter(pk=consultation.pk).update(
        created_at=consultation.created_at - timedelta(days=60)
    )
    consultation.transitions.update(
        created_at=consultation.created_at - timedelta(days=59)
    )

    call_command("deadlines", "check")
    call_command("deadlines", "check")

    breaches = Event.objects.filter(kind=EventKind.DEADLINE_BREACHED)
    assert sorted(event.params["target"] for event in breaches) == [
        "answer",
        "first_response",
    ]
    breach = breaches.get(params__target="answer")
    assert breach.public is False
    recipients = set(
        Notification.objects.filter(event=breach).values_list(
            "recipient__username", flat=True
        )
    )
    assert recipients == {"operator", "supervisor"}
    assert not Notification.objects.filter(
        recipient=people["citizen"], kind=EventKind.DEADLINE_BREACHED
    ).exists()
    wait_for(lambda: len(mailbox.to("operator@example.org")) == 2, "two e-mails")
    wait_for(tasks_idle, "the worker to finish")
    assert len(mailbox.to("citizen@example.org")) == 1


def test_deadline_warning_at_eighty_percent(people):
    consultation = open_consultation(people)
    consultations.transition(people["operator"], consultation.pk, action="take")
    answer = next(
        d for d in consultation_deadlines(consultation) if d.target.name == "answer"
    )
    at_ninety = answer.started_at + (answer.due_at - answer.started_at) * 0.9

    from protokol.notifications.deadlines import check_deadlines

    first = check_deadlines(now=at_ninety)
    again = check_deadlines(now=at_ninety)

    warnings = [e for e in first if e.kind == EventKind.DEADLINE_WARNING]
    assert [e.params["target"] for e in warnings] == ["answer"]
    assert again == []
