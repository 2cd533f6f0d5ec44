"""Dispute notifications and template-based e-mails, through the db_worker."""

import pytest
from django.db import transaction

from consultations.factories import consultation_in
from protokol.accounts.models import Department
from protokol.accounts.services import create_user
from protokol.consultations.models import Status
from protokol.disputes import services as disputes
from protokol.notifications.models import (
    ChannelKind,
    Delivery,
    DeliveryStatus,
    EventKind,
    Notification,
)
from protokol.workflow.answer_templates import save_template
from protokol.workflow.models import AnswerTemplate

from .conftest import wait_for
from .test_worker import open_consultation, settled, tasks_idle

pytestmark = pytest.mark.usefixtures("worker")

CLAIMS = "В протоколе пропущена моя справка о доходах."


def _notified(user, kind) -> bool:
    return Notification.objects.filter(recipient=user, kind=kind).exists()


@pytest.fixture
def expert(people):
    with transaction.atomic():
        return create_user(
            "reviewer_b",
            role="reviewer",
            password=None,
            first_name="Вера",
            last_name="Лебедева",
            departments=[Department.objects.get(code="B")],
        )


def test_dispute_opened_and_concluded_reach_both_parties(people, mailbox, expert):
    signed = consultation_in(people, Status.SIGNED)
    wait_for(lambda: settled({"kind": EventKind.PROTOCOL_SIGNED}), "the signing")

    dispute = disputes.open_dispute(people["citizen"], signed.pk, claims=CLAIMS)
    wait_for(lambda: settled({"kind": EventKind.DISPUTE_OPENED}), "dispute opened")

    # The citizen's receipt, and the department's assignee and supervisor.
    assert _notified(people["citizen"], EventKind.DISPUTE_OPENED)
    assert _notified(people["operator"], EventKind.DISPUTE_OPENED)
    assert _notified(people["supervisor"], EventKind.DISPUTE_OPENED)
    wait_for(
        lambda: any(
            "оспорен" in m["Subject"] for m in mailbox.to("citizen@example.org")
        ),
        "the citizen's receipt e-mail",
    )

    disputes.assign_expert(people["supervisor"], dispute.pk, expert="reviewer_b")
    disputes.write_conclusion(expert, dispute.pk, text="Справка учтена.")
    disputes.close_dispute(
        people["supervisor"], dispute.pk, outcome="conclude", comment="Итог"
    )
    wait_for(
        lambda: settled({"kind": EventKind.DISPUTE_CONCLUDED}), "dispute concluded"
    )

    assert _notified(people["citizen"], EventKind.DISPUTE_CONCLUDED)
    assert _notified(people["operator"], EventKind.DISPUTE_CONCLUDED)
    assert _notified(expert, EventKind.DISPUTE_CONCLUDED)
    # The supervisor closed it, and an actor is not notified of their own step.
    assert not _notified(people["supervisor"], EventKind.DISPUTE_CONCLUDED)
    wait_for(
        lambda: any(
            "спор по протоколу рассмотрен" in m["Subject"]
            for m in mailbox.to("citizen@example.org")
        ),
        "the citizen's conclusion e-mail",
    )
    everything = [
        *mailbox.texts(),
        *(str(n.params) for n in Notification.objects.all()),
    ]
    assert not any(CLAIMS in text for text in everything)
    wait_for(tasks_idle, "the worker to finish")


def test_reopen_is_a_concluded_dispute(people, expert):
    signed = consultation_in(people, Status.SIGNED)
    dispute = disputes.open_dispute(people["citizen"], signed.pk, claims=CLAIMS)
    disputes.assign_expert(people["supervisor"], dispute.pk, expert="reviewer_b")
    disputes.write_conclusion(expert, dispute.pk, text="Нужен новый ответ.")

    disputes.close_dispute(
        people["supervisor"], dispute.pk, outcome="reopen", comment="Ответить заново"
    )

    wait_for(
        lambda: _notified(people["citizen"], EventKind.DISPUTE_CONCLUDED),
        "the citizen's notification",
    )
    notification = Notification.objects.get(
        recipient=people["citizen"], kind=EventKind.DISPUTE_CONCLUDED
    )
    assert notification.params["action"] == "reopen"
    wait_for(tasks_idle, "the worker to finish")


def test_citizen_email_uses_answer_template(people, mailbox):
    save_template(
        people["admin"],
        code="notify_status_changed",
        title="Статус изменён",
        body_ru="{citizen_name}, обращение {consultation_number} принято "
        "отделом «{department}».",
    )
    consultation = open_consultation(people)

    from protokol.consultations import services as consultations

    consultations.transition(people["operator"], consultation.pk, action="take")

    mail = wait_for(lambda: mailbox.to("citizen@example.org"), "the e-mail")[0]
    assert mail.get_content().strip() == (
        f"Анна Иванова, обращение {consultation.number} принято отделом "
        "«Отдел консультаций по социальным вопросам»."
    )
    # Staff e-mails keep the event's own text.
    wait_for(tasks_idle, "the worker to finish")
    assert all(
        "принято отделом" not in m.get_content()
        for m in mailbox.to("operator@example.org")
    )


def test_template_with_unknown_variable_blocks_email(people, mailbox):
    # A row saved before its variable was removed from the list: the
    # service would reject it now, so it is written directly.
    AnswerTemplate.objects.create(
        code="notify_status_changed",
        title="Статус изменён",
        body_ru="Ответ будет готов до {due_date}.",
        updated_at=people["admin"].date_joined,
    )
    consultation = open_consultation(people)

    from protokol.consultations import services as consultations

    consultations.transition(people["operator"], consultation.pk, action="take")

    delivery = wait_for(
        lambda: Delivery.objects.filter(
            channel=ChannelKind.EMAIL, status=DeliveryStatus.DEAD
        ).first(),
        "the blocked e-mail",
    )
    assert "{due_date}" in delivery.last_error
    assert delivery.attempts == 1
    assert delivery.recipient == people["citizen"]
    wait_for(tasks_idle, "the worker to finish")
    assert mailbox.to("citizen@example.org") == []
    # The in-app notification does not depend on the template.
    assert _notified(people["citizen"], EventKind.STATUS_CHANGED)


def test_earlier_expert_not_told_of_later_dispute(people, expert):
    from consultations.factories import PROTOCOL, act
    from protokol.protocols.services import save_protocol

    signed = consultation_in(people, Status.SIGNED)
    first = disputes.open_dispute(people["citizen"], signed.pk, claims=CLAIMS)
    disputes.assign_expert(people["supervisor"], first.pk, expert="reviewer_b")
    disputes.write_conclusion(expert, first.pk, text="Нужен новый ответ.")
    disputes.close_dispute(
        people["supervisor"], first.pk, outcome="reopen", comment="Ответить заново"
    )
    wait_for(lambda: _notified(expert, EventKind.DISPUTE_CONCLUDED), "the reopen")
    save_protocol(people["operator"], signed.pk, **PROTOCOL)
    for user, action in [
        ("operator", "submit"),
        ("reviewer", "approve"),
        ("reviewer", "sign"),
    ]:
        act(people[user], signed, action)

    # The second dispute ends by the plain lifecycle action, with no expert.
    disputes.open_dispute(people["citizen"], signed.pk, claims=CLAIMS)
    act(people["supervisor"], signed, "conclude", "Протокол верен")
    wait_for(
        lambda: (
            Notification.objects.filter(
                recipient=people["citizen"], kind=EventKind.DISPUTE_CONCLUDED
            ).count()
            == 2
        ),
        "the citizen's second notification",
    )
    wait_for(tasks_idle, "the worker to finish")

    assert (
        Notification.objects.filter(
            recipient=expert, kind=EventKind.DISPUTE_CONCLUDED
        ).count()
        == 1
    )
