"""Retention policies, closing times and legal holds."""

from datetime import timedelta

import pytest
from django.utils import timezone

from api.client import login
from consultations.factories import consultation_in
from protokol.consultations.models import Status, Transition
from protokol.journal.models import JournalEntry
from protokol.journal.services import with_payloads
from protokol.retention import policy
from protokol.retention.models import LegalHold, RetentionPolicy
from protokol.retention.services import lift_legal_hold, set_legal_hold, set_policy

from .conftest import close_years_ago


def due_ids() -> list[int]:
    return [item.consultation.pk for item in policy.find_due()]


def test_default_keeps_five_years(demo):
    kept = consultation_in(demo, Status.WITHDRAWN)
    close_years_ago(kept, 4.9)
    ended = consultation_in(demo, Status.WITHDRAWN)
    close_years_ago(ended, 5.1)

    assert due_ids() == [ended.pk]
    assert policy.find_due()[0].rule == policy.DEFAULT_RULE


def test_open_consultation_never_due(demo):
    consultation = consultation_in(demo, Status.DRAFTING)
    Transition.objects.filter(consultation=consultation).update(
        created_at=timezone.now() - timedelta(days=3650)
    )

    assert due_ids() == []


def test_longer_policy_keeps_record(demo):
    set_policy(demo["admin"], "GEN", years=10, end_action="delete")
    consultation = consultation_in(demo, Status.WITHDRAWN)
    close_years_ago(consultation, 6)

    assert due_ids() == []
    close_years_ago(consultation, 10.1)
    assert due_ids() == [consultation.pk]


def test_closing_time_read_from_transitions(demo):
    consultation = consultation_in(demo, Status.WITHDRAWN)
    close_years_ago(consultation, 6)
    # A recent closed_at on the row does not restart the clock.
    type(consultation).objects.filter(pk=consultation.pk).update(
        closed_at=timezone.now()
    )

    assert due_ids() == [consultation.pk]


def test_policy_below_minimum_rejected(demo):
    response = login("admin").put(
        "/retention/policies/GEN", {"years": 4, "end_action": "delete"}
    )

    assert response.status_code == 422
    assert response.json()["field"] == "years"
    assert "5" in response.json()["message"]
    assert not RetentionPolicy.objects.exists()
    assert not JournalEntry.objects.filter(action="retention:policy").exists()


def test_policy_unknown_end_action_rejected(demo):
    response = login("admin").put(
        "/retention/policies/GEN", {"years": 7, "end_action": "shred"}
    )

    assert response.status_code == 422
    assert response.json()["field"] == "end_action"
    assert not RetentionPolicy.objects.exists()


def test_policy_years_as_text_rejected(demo):
    response = login("admin").put(
        "/retention/policies/GEN", {"years": "7", "end_action": "delete"}
    )

    assert response.status_code == 422
    assert response.json()["field"] == "years"


def test_policy_unknown_service_not_found(demo):
    response = login("admin").put(
        "/retention/policies/NOPE", {"years": 7, "end_action": "delete"}
    )

    assert response.status_code == 404
    assert response.json()["field"] == "service"


def test_policy_by_supervisor_forbidden(demo):
    response = login("supervisor").put(
        "/retention/policies/GEN", {"years": 7, "end_action": "delete"}
    )

    assert response.status_code == 403
    assert not RetentionPolicy.objects.exists()


def test_policy_set_journaled(demo):
    response = login("admin").put(
        "/retention/policies/GEN", {"years": 7, "end_action": "delete"}
    )

    assert response.status_code == 200
    entry = with_payloads([JournalEntry.objects.get(action="retention:policy")])[0]
    assert entry.actor_id == demo["admin"].pk
    assert entry.object_label == "GEN"
    assert entry.after == {"years": 7, "end_action": "delete"}
    listed = login("auditor").get("/retention/policies").json()
    assert {
        "service": "GEN",
        "years": 7,
        "end_action": "delete",
        "configured": True,
    } in listed


def test_active_hold_stops_clock(demo):
    consultation = consultation_in(demo, Status.WITHDRAWN)
    close_years_ago(consultation, 6)
    hold = set_legal_hold(demo["supervisor"], consultation.pk, reason="Судебный запрос")

    assert due_ids() == []
    lift_legal_hold(demo["admin"], hold.pk, reason="Дело закрыто")
    assert due_ids() == [consultation.pk]


def test_lifted_hold_extends_period(demo):
    consultation = consultation_in(demo, Status.WITHDRAWN)
    close_years_ago(consultation, 6)
    hold = set_legal_hold(demo["supervisor"], consultation.pk, reason="Проверка")
    lift_legal_hold(demo["supervisor"], hold.pk, reason="Проверка окончена")
    closed_at = policy.closing_time(policy.closed_consultations().get())
    # Two years under the hold, starting a year after closing.
    LegalHold.objects.filter(pk=hold.pk).update(
        set_at=closed_at + timedelta(days=365),
        lifted_at=closed_at + timedelta(days=365 * 3),
    )

    assert due_ids() == []
    assert policy.kept_until(consultation) == policy.add_years(
        closed_at, 5
    ) + timedelta(days=730)


def test_hold_api_flow_journaled(demo):
    consultation = consultation_in(demo, Status.WITHDRAWN)
    supervisor = login("supervisor")

    created = supervisor.post(
        "/retention/holds",
        {"consultation_id": consultation.pk, "reason": "Запрос прокуратуры"},
    )
    again = supervisor.post(
        "/retention/holds", {"consultation_id": consultation.pk, "reason": "Ещё"}
    )
    lifted = supervisor.post(
        f"/retention/holds/{created.json()['id']}/lift", {"reason": "Отозван"}
    )

    assert created.status_code == 201
    assert again.status_code == 409
    assert again.json()["field"] == "consultation_id"
    assert lifted.status_code == 200
    assert lifted.json()["lifted_at"] is not None
    actions = list(
        JournalEntry.objects.filter(consultation_id=consultation.pk)
        .filter(action__startswith="retention:")
        .values_list("action", flat=True)
    )
    assert actions == ["retention:hold", "retention:hold_lift"]


@pytest.mark.parametrize(
    ("username", "body", "status", "field"),
    [
        ("operator", {"reason": "x"}, 403, None),
        ("citizen", {"reason": "x"}, 403, None),
        ("supervisor", {"reason": "  "}, 422, "reason"),
        (
            "supervisor",
            {"reason": "x", "consultation_id": 999999},
            404,
            "consultation_id",
        ),
    ],
)
def test_hold_bad_requests(demo, username, body, status, field):
    consultation = consultation_in(demo, Status.WITHDRAWN)
    body = {"consultation_id": consultation.pk, **body}

    response = login(username).post("/retention/holds", body)

    assert response.status_code == status
    assert response.json()["field"] == field
    assert not LegalHold.objects.exists()
