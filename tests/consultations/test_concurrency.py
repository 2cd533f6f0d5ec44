"""Optimistic concurrency: a write based on an old version is refused whole."""

import threading

import pytest
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.test import RequestFactory

from protokol.accounts import services as accounts
from protokol.accounts.models import User
from protokol.consultations import services
from protokol.consultations.models import Consultation, Message, Transition
from protokol.errors import StaleVersion
from protokol.protocols import services as protocols

from .factories import PROTOCOL


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite takes no row locks"
)
def test_locked_lookup_needs_transaction(committed_db, demo):
    consultation = services.create_consultation(
        demo["citizen"], service_code="GEN", subject="Пособие", description="Как?"
    )
    with transaction.atomic():
        assert services._LOCKED_ROW.fetch(consultation.pk) == [consultation]

    # The query was compiled in the transaction above, so only CompiledQuery's
    # own check raises here.
    with pytest.raises(TransactionManagementError):
        services._LOCKED_ROW.fetch(consultation.pk)


def test_new_consultation_starts_at_version_one(consultation):
    assert consultation.version == 1


def test_each_write_raises_the_version(demo, consultation):
    operator = demo["operator"]

    services.add_message(operator, consultation.pk, text="Ответ", visibility="public")
    services.transition(operator, consultation.pk, action="take")
    protocols.save_protocol(operator, consultation.pk, **PROTOCOL)
    services.forward(operator, consultation.pk, department_code="B", reason="Не наш")

    assert Consultation.objects.get(pk=consultation.pk).version == 5


def test_current_base_version_is_accepted(demo, consultation):
    message = services.add_message(
        demo["operator"],
        consultation.pk,
        text="Ответ",
        visibility="public",
        base_version=1,
    )

    assert message.consultation.version == 2


@pytest.mark.parametrize(
    "write",
    [
        lambda actor, pk: services.add_message(
            actor, pk, text="Поздно", visibility="public", base_version=1
        ),
        lambda actor, pk: services.transition(actor, pk, action="take", base_version=1),
        lambda actor, pk: protocols.save_protocol(
            actor, pk, base_version=1, **PROTOCOL
        ),
        lambda actor, pk: services.forward(
            actor, pk, department_code="B", reason="Не наш", base_version=1
        ),
    ],
    ids=["message", "transition", "protocol", "forward"],
)
def test_stale_write_is_409_and_writes_nothing(demo, consultation, write):
    services.add_message(
        demo["supervisor"], consultation.pk, text="Первый", visibility="public"
    )
    counts = (Message.objects.count(), Transition.objects.count())

    with pytest.raises(StaleVersion) as caught:
        write(demo["operator"], consultation.pk)

    assert caught.value.status == 409
    assert caught.value.field == "base_version"
    assert caught.value.extra == {"current_version": 2, "current_status": "initiated"}
    assert (Message.objects.count(), Transition.objects.count()) == counts
    stored = Consultation.objects.get(pk=consultation.pk)
    assert (stored.version, stored.department.code) == (2, "A")
    assert not stored.protocol_versions.exists()


def test_racing_writers_one_wins(committed_db):
    """Two writers on their own connections, both based on version 1."""
    from protokol.accounts.demo import seed_demo

    seed_demo()
    citizen = User.objects.get(username="citizen")
    consultation = services.create_consultation(
        citizen, service_code="GEN", subject="Гонка", description="Два ответа сразу"
    )
    writers = [User.objects.get(username=name) for name in ("operator", "supervisor")]
    barrier = threading.Barrier(len(writers))
    outcomes = []

    def reply(actor):
        try:
            barrier.wait()
            services.add_message(
                actor,
                consultation.pk,
                text=f"Ответ {actor.username}",
                visibility="public",
                base_version=1,
            )
            outcomes.append("ok")
        except StaleVersion as error:
            outcomes.append(error.extra["current_version"])
        finally:
            connection.close()

    threads = [threading.Thread(target=reply, args=(actor,)) for actor in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes, key=str) == [2, "ok"]
    assert Message.objects.filter(consultation=consultation).count() == 1
    assert Consultation.objects.get(pk=consultation.pk).version == 2


def test_concurrent_writers_never_deadlock(committed_db):
    """One citizen writes to and reads three consultations from six connections.

    A write locks its consultation, then the journal; a read takes only the
    journal lock. Both insert journal entries that refer to the citizen, which
    takes a KEY SHARE lock on the citizen's row. Locking the joined citizen row
    FOR UPDATE made PostgreSQL detect deadlocks here.
    """
    from protokol.accounts.demo import seed_demo

    seed_demo()
    citizen = User.objects.get(username="citizen")
    consultations = [
        services.create_consultation(
            citizen, service_code="GEN", subject=f"Поток {n}", description="Вопрос"
        )
        for n in range(3)
    ]
    writers = 6
    barrier = threading.Barrier(writers)
    errors = []

    def write(number):
        try:
            barrier.wait()
            for round_ in range(5):
                accounts.issue_token(
                    RequestFactory().post("/api/v1/auth/token"), "citizen", "demo"
                )
                target = consultations[(number + round_) % len(consultations)]
                services.add_message(
                    citizen, target.pk, text=f"Дополнение {round_}", visibility="public"
                )
                services.read_consultation(citizen, target.pk, via="api")
                services.create_consultation(
                    citizen, service_code="GEN", subject="Ещё", description="Вопрос"
                )
        except Exception as error:  # noqa: BLE001 - the test reports any failure
            errors.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert Message.objects.filter(author=citizen).count() == writers * 5
