"""The dispute API: routes, the case file and errors in the API's format."""

import pytest

from api.client import ERROR_KEYS, login
from protokol.consultations import services as consultations
from protokol.disputes import services
from protokol.disputes.models import Dispute
from protokol.journal.models import JournalEntry

from .conftest import CLAIMS


@pytest.fixture
def opened(demo, signed):
    return services.open_dispute(demo["citizen"], signed.pk, claims=CLAIMS)


def test_citizen_opens_dispute(demo, signed):
    response = login("citizen").post(
        f"/consultations/{signed.pk}/disputes", {"claims": CLAIMS}
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["claims"] == CLAIMS
    assert body["status"] == "open"
    assert body["number"] == signed.number
    assert Dispute.objects.get().pk == body["id"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 422, "claims"),
        ({"claims": CLAIMS, "extra": 1}, 422, "extra"),
        ({"claims": 5}, 422, "claims"),
        ({"claims": "   "}, 422, "claims"),
        ({"claims": "x" * 20_001}, 422, "claims"),
        ({"claims": "a\x07b"}, 422, "claims"),
    ],
)
def test_open_dispute_bad_input(demo, signed, body, status, field):
    response = login("citizen").post(f"/consultations/{signed.pk}/disputes", body)

    assert response.status_code == status, response.content
    assert set(response.json()) >= ERROR_KEYS
    assert response.json()["field"] == field
    assert not Dispute.objects.exists()


def test_staff_cannot_open_dispute(demo, signed):
    response = login("operator").post(
        f"/consultations/{signed.pk}/disputes", {"claims": CLAIMS}
    )

    assert response.status_code == 403
    assert not Dispute.objects.exists()


def test_case_file_for_expert(demo, signed, expert, opened):
    services.assign_expert(demo["supervisor"], opened.pk, expert=expert.username)

    response = login("reviewer_b").get(f"/disputes/{opened.pk}")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["claims"] == CLAIMS
    assert body["expert"] == "Вера Лебедева"
    actions = [step["action"] for step in body["transitions"]]
    assert actions[-3:] == ["approve", "sign", "dispute"]
    assert {s["kind"] for s in body["signatures"]} >= {"seal"}
    journal_actions = {entry["action"] for entry in body["journal"]}
    assert {"consultation:create", "dispute:open", "dispute:assign"} <= journal_actions
    assert body["conclusion"] is None
    # The expert still cannot open the consultation itself.
    assert login("reviewer_b").get(f"/consultations/{signed.pk}").status_code == 404


def test_case_file_hides_internal_notes_from_citizen(demo, expert):
    from consultations.factories import act, consultation_in
    from protokol.consultations.models import Status

    consultation = consultation_in(demo, Status.APPROVED)
    consultations.add_message(
        demo["reviewer"],
        consultation.pk,
        text="Внутренняя заметка",
        visibility="internal",
    )
    act(demo["reviewer"], consultation, "sign")
    dispute = services.open_dispute(demo["citizen"], consultation.pk, claims=CLAIMS)
    services.assign_expert(demo["supervisor"], dispute.pk, expert=expert.username)

    citizen_view = login("citizen").get(f"/disputes/{dispute.pk}").json()
    expert_view = login("reviewer_b").get(f"/disputes/{dispute.pk}").json()

    assert not any(m["visibility"] == "internal" for m in citizen_view["messages"])
    assert any(m["text"] == "Внутренняя заметка" for m in expert_view["messages"])


def test_other_citizen_gets_404(demo, opened):
    response = login("citizen2").get(f"/disputes/{opened.pk}")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_list_shows_assigned_disputes_to_expert(demo, expert, opened):
    assert login("reviewer_b").get("/disputes").json() == []

    services.assign_expert(demo["supervisor"], opened.pk, expert=expert.username)

    listed = login("reviewer_b").get("/disputes").json()
    assert [d["id"] for d in listed] == [opened.pk]
    assert [d["id"] for d in login("citizen").get("/disputes").json()] == [opened.pk]
    assert login("citizen2").get("/disputes").json() == []
    entry = JournalEntry.objects.filter(action="dispute:list").last()
    assert entry.actor_id == demo["citizen2"].pk
    assert entry.after == {"count": 0, "via": "api"}


def test_list_with_unknown_status_rejected(demo, opened):
    response = login("supervisor").get("/disputes", status="lost")

    assert response.status_code == 422
    assert response.json()["field"] == "status"


@pytest.mark.parametrize("limit", [0, 101])
def test_list_with_bad_limit_rejected(demo, limit):
    response = login("supervisor").get("/disputes", limit=limit)

    assert response.status_code == 422
    assert response.json()["field"] == "limit"


def test_candidates_exclude_signer(demo, expert, opened):
    response = login("supervisor").get(f"/disputes/{opened.pk}/candidates")

    names = [row["username"] for row in response.json()]
    assert "reviewer_b" in names
    assert "supervisor" in names
    assert "reviewer" not in names
    assert "operator" not in names
    assert login("citizen").get(f"/disputes/{opened.pk}/candidates").status_code == 403


def test_whole_procedure_over_api(demo, signed, expert, opened):
    supervisor, reviewer_b = login("supervisor"), login("reviewer_b")

    assigned = supervisor.post(
        f"/disputes/{opened.pk}/expert", {"expert": "reviewer_b"}
    )
    early = supervisor.post(
        f"/disputes/{opened.pk}/close", {"outcome": "conclude", "comment": "Итог"}
    )
    concluded = reviewer_b.post(
        f"/disputes/{opened.pk}/conclusion", {"text": "Протокол верен."}
    )
    closed = supervisor.post(
        f"/disputes/{opened.pk}/close", {"outcome": "conclude", "comment": "Итог"}
    )

    assert assigned.status_code == 200, assigned.content
    assert early.status_code == 409
    assert early.json()["field"] == "status"
    assert concluded.status_code == 201, concluded.content
    # The expert signs too if an earlier test issued them a certificate.
    assert "seal" in {s["kind"] for s in concluded.json()["signatures"]}
    assert closed.status_code == 200, closed.content
    assert closed.json()["outcome"] == "conclude"
    detail = login("citizen").get(f"/disputes/{opened.pk}").json()
    assert detail["conclusion"]["text"] == "Протокол верен."


def test_assign_signer_rejected_over_api(demo, opened):
    response = login("supervisor").post(
        f"/disputes/{opened.pk}/expert", {"expert": "reviewer"}
    )

    assert response.status_code == 422
    assert response.json()["field"] == "expert"
    assert "reviewer" in response.json()["message"]
    assert not JournalEntry.objects.filter(action="dispute:assign").exists()


@pytest.mark.parametrize(
    "expert",
    [
        "reviewer\x00b",
        "\x07",
        "x" * 100_000,
        "   ",
    ],
)
def test_assign_malformed_username_rejected(demo, opened, expert):
    response = login("supervisor").post(
        f"/disputes/{opened.pk}/expert", {"expert": expert}
    )

    assert response.status_code == 422, response.content
    assert response.json()["field"] == "expert"
    # The error names the field, and a long value is not sent back.
    assert len(response.content) < 1000
    opened.refresh_from_db()
    assert opened.expert_id is None
    assert not JournalEntry.objects.filter(action="dispute:assign").exists()


def test_empty_conclusion_rejected(demo, expert, opened):
    services.assign_expert(demo["supervisor"], opened.pk, expert=expert.username)

    response = login("reviewer_b").post(
        f"/disputes/{opened.pk}/conclusion", {"text": ""}
    )

    assert response.status_code == 422
    assert response.json()["field"] == "text"


def test_former_expert_sees_record_until_close(demo, signed, expert, opened):
    services.assign_expert(demo["supervisor"], opened.pk, expert=expert.username)
    services.write_conclusion(expert, opened.pk, text="Доводы не подтвердились.")
    services.close_dispute(
        demo["supervisor"], opened.pk, outcome="reopen", comment="Новый ответ"
    )
    # After the dispute is closed, the department keeps working on the
    # consultation, which the expert of department B may not see.
    consultations.add_message(
        demo["operator"],
        signed.pk,
        text="Заметка после спора",
        visibility="internal",
    )

    expert_view = login("reviewer_b").get(f"/disputes/{opened.pk}").json()
    staff_view = login("supervisor").get(f"/disputes/{opened.pk}").json()

    assert "Заметка после спора" not in [m["text"] for m in expert_view["messages"]]
    assert expert_view["transitions"][-1]["action"] == "reopen"
    expert_actions = [entry["action"] for entry in expert_view["journal"]]
    assert "dispute:close" in expert_actions
    assert "message:create" not in expert_actions
    # The department's staff still see the whole record.
    assert "Заметка после спора" in [m["text"] for m in staff_view["messages"]]
    assert "message:create" in [entry["action"] for entry in staff_view["journal"]]
