import re
from datetime import timedelta

import pytest
from django.utils import timezone, translation

from protokol.accounts.services import create_user
from protokol.consultations import attachments, services
from protokol.consultations.models import (
    Attachment,
    Message,
    Status,
    Transition,
)
from protokol.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from protokol.journal.models import JournalEntry
from protokol.journal.services import with_payloads
from protokol.protocols.models import Addendum
from protokol.protocols.services import save_protocol

from .factories import PROTOCOL, act, consultation_in, open_consultation, upload

SEALED = [Status.SIGNED, Status.ARCHIVED, Status.DISPUTED]


def transition_entries(consultation):
    return JournalEntry.objects.filter(
        consultation_id=consultation.pk, action="consultation:transition"
    ).order_by("index")


# -- create


def test_create_issues_yearly_number(demo):
    consultation = open_consultation(demo["citizen"])

    assert re.fullmatch(r"КП-\d{4}-\d{6}", consultation.number)


def test_create_numbers_are_consecutive(demo):
    first = open_consultation(demo["citizen"])
    second = open_consultation(demo["citizen2"])

    assert int(second.number[-6:]) == int(first.number[-6:]) + 1


def test_create_routes_to_service_department(demo):
    consultation = open_consultation(demo["citizen"], service_code="PAS")

    assert consultation.department.code == "B"


def test_create_sets_deadline_from_service(demo):
    consultation = open_consultation(demo["citizen"], service_code="PAS")

    assert consultation.deadline - consultation.created_at == timedelta(days=15)


def test_create_journals_entry(demo):
    consultation = open_consultation(demo["citizen"])

    entry = JournalEntry.objects.get(consultation_id=consultation.pk)
    assert entry.action == "consultation:create"
    assert entry.after["number"] == consultation.number
    assert entry.after["status"] == "initiated"


def test_create_by_staff_rejected(demo):
    with pytest.raises(PermissionDenied):
        open_consultation(demo["operator"])


def test_create_unknown_service_rejected(demo):
    with pytest.raises(ValidationFailed) as caught:
        open_consultation(demo["citizen"], service_code="NOPE")

    assert caught.value.field == "service"


def test_create_normalises_subject(demo):
    decomposed = "Пособие на ребе\u0308нка  "

    consultation = open_consultation(demo["citizen"], subject=decomposed)

    assert consultation.subject == "Пособие на ребёнка"


# -- transitions


def test_approve_own_draft_rejected(demo):
    consultation = open_consultation(demo["citizen"])
    act(demo["operator"], consultation, "take")
    save_protocol(demo["reviewer"], consultation.pk, **PROTOCOL)
    act(demo["operator"], consultation, "submit")

    with pytest.raises(PermissionDenied) as caught:
        act(demo["reviewer"], consultation, "approve")

    assert caught.value.field == "action"
    consultation.refresh_from_db()
    assert consultation.status == Status.IN_REVIEW


def test_approve_by_second_reviewer_allowed(demo):
    department = demo["reviewer"].departments.get()
    second = create_user(
        "reviewer_b", role="reviewer", password=None, departments=[department]
    )
    consultation = open_consultation(demo["citizen"])
    act(demo["operator"], consultation, "take")
    save_protocol(demo["reviewer"], consultation.pk, **PROTOCOL)
    act(demo["operator"], consultation, "submit")

    consultation = act(second, consultation, "approve")

    assert consultation.status == Status.APPROVED


def test_approve_after_later_version_by_other_allowed(demo):
    consultation = open_consultation(demo["citizen"])
    act(demo["operator"], consultation, "take")
    save_protocol(demo["reviewer"], consultation.pk, **PROTOCOL)
    save_protocol(demo["operator"], consultation.pk, **PROTOCOL)
    act(demo["operator"], consultation, "submit")

    consultation = act(demo["reviewer"], consultation, "approve")

    assert consultation.status == Status.APPROVED


def test_submit_without_draft_rejected(demo):
    consultation = open_consultation(demo["citizen"])
    act(demo["operator"], consultation, "take")

    with pytest.raises(Conflict) as caught:
        act(demo["operator"], consultation, "submit")

    assert caught.value.status == 409
    assert caught.value.field == "protocol"
    assert Transition.objects.filter(action="submit").count() == 0


@pytest.mark.parametrize(
    ("status", "username", "action"),
    [
        (Status.INITIATED, "operator", "request_data"),
        (Status.DRAFTING, "operator", "request_data"),
        (Status.IN_REVIEW, "reviewer", "return"),
        (Status.SIGNED, "citizen", "dispute"),
        (Status.ARCHIVED, "citizen", "dispute"),
        (Status.DISPUTED, "supervisor", "conclude"),
        (Status.DISPUTED, "supervisor", "reopen"),
    ],
)
@pytest.mark.parametrize("comment", ["", "   "])
def test_transition_without_required_comment_rejected(
    demo, status, username, action, comment
):
    consultation = consultation_in(demo, status)
    transitions = Transition.objects.count()

    with pytest.raises(ValidationFailed) as caught:
        act(demo[username], consultation, action, comment=comment)

    assert caught.value.status == 422
    assert caught.value.field == "comment"
    assert Transition.objects.count() == transitions
    consultation.refresh_from_db()
    assert consultation.status == status


def test_transition_unknown_action_rejected(consultation, demo):
    with pytest.raises(ValidationFailed) as caught:
        act(demo["operator"], consultation, "close")

    assert caught.value.field == "action"


def test_transition_wrong_status_lists_allowed_actions(consultation, demo):
    with pytest.raises(Conflict) as caught:
        act(demo["operator"], consultation, "submit")

    assert caught.value.as_dict()["allowed_actions"] == ["request_data", "take"]


def test_conclude_adds_addendum(demo):
    consultation = consultation_in(demo, Status.DISPUTED)

    act(demo["supervisor"], consultation, "conclude", comment="Ответ верен")

    addendum = Addendum.objects.get(consultation=consultation)
    assert addendum.kind == "conclusion"
    assert addendum.text == "Ответ верен"
    assert addendum.author_id == demo["supervisor"].pk


def test_conclude_journals_addendum(demo):
    consultation = consultation_in(demo, Status.DISPUTED)

    act(demo["supervisor"], consultation, "conclude", comment="Ответ верен")

    assert JournalEntry.objects.filter(
        consultation_id=consultation.pk, action="protocol:addendum"
    ).exists()


def test_reopen_adds_no_addendum(demo):
    consultation = consultation_in(demo, Status.DISPUTED)

    act(demo["supervisor"], consultation, "reopen", comment="Нужен новый ответ")

    assert not Addendum.objects.filter(consultation=consultation).exists()


def test_take_assigns_operator(consultation, demo):
    consultation = act(demo["operator"], consultation, "take")

    assert consultation.assignee_id == demo["operator"].pk


@pytest.mark.parametrize(
    ("status", "username", "action"),
    [
        (Status.SIGNED, "operator", "archive"),
        (Status.INITIATED, "citizen", "withdraw"),
        (Status.APPROVED, "citizen", "withdraw"),
        (Status.DISPUTED, "supervisor", "conclude"),
    ],
)
def test_closing_transition_sets_closed_at(demo, status, username, action):
    consultation = consultation_in(demo, status)
    before = timezone.now()

    consultation = act(demo[username], consultation, action)

    assert consultation.closed_at is not None
    assert consultation.closed_at >= before


@pytest.mark.parametrize(
    ("status", "username", "action"),
    [
        (Status.INITIATED, "operator", "take"),
        (Status.DRAFTING, "operator", "submit"),
        (Status.IN_REVIEW, "reviewer", "approve"),
        (Status.APPROVED, "reviewer", "sign"),
        (Status.SIGNED, "citizen", "dispute"),
        (Status.ARCHIVED, "citizen", "dispute"),
    ],
)
def test_open_transition_leaves_closed_at_empty(demo, status, username, action):
    consultation = consultation_in(demo, status)

    consultation = act(demo[username], consultation, action)

    assert consultation.closed_at is None


def test_reopen_clears_closed_at(demo):
    consultation = consultation_in(demo, Status.ARCHIVED)
    act(demo["citizen"], consultation, "dispute")

    consultation = act(demo["supervisor"], consultation, "reopen")

    assert consultation.status == Status.DRAFTING
    assert consultation.closed_at is None


@pytest.mark.parametrize(
    ("status", "username", "action", "target"),
    [
        (Status.INITIATED, "operator", "take", Status.DRAFTING),
        (Status.DRAFTING, "operator", "request_data", Status.DATA_REQUESTED),
        (Status.DATA_REQUESTED, "citizen", "provide_data", Status.DRAFTING),
        (Status.DRAFTING, "operator", "submit", Status.IN_REVIEW),
        (Status.IN_REVIEW, "reviewer", "return", Status.DRAFTING),
        (Status.IN_REVIEW, "reviewer", "approve", Status.APPROVED),
        (Status.APPROVED, "supervisor", "sign", Status.SIGNED),
        (Status.SIGNED, "supervisor", "archive", Status.ARCHIVED),
        (Status.IN_REVIEW, "citizen", "withdraw", Status.WITHDRAWN),
        (Status.ARCHIVED, "citizen", "dispute", Status.DISPUTED),
        (Status.DISPUTED, "supervisor", "conclude", Status.ARCHIVED),
        (Status.DISPUTED, "supervisor", "reopen", Status.DRAFTING),
    ],
)
def test_transition_writes_row_and_entry(demo, status, username, action, target):
    consultation = consultation_in(demo, status)
    rows = Transition.objects.filter(consultation=consultation).count()
    entries = transition_entries(consultation).count()

    act(demo[username], consultation, action, comment="Пояснение")

    assert Transition.objects.filter(consultation=consultation).count() == rows + 1
    assert transition_entries(consultation).count() == entries + 1

    row = Transition.objects.filter(consultation=consultation).last()
    assert row.action == action
    assert row.from_status == status
    assert row.to_status == target
    assert row.actor_id == demo[username].pk
    assert row.actor_role == demo[username].role
    assert row.comment == "Пояснение"

    [entry] = with_payloads([transition_entries(consultation).last()])
    assert entry.actor_id == demo[username].pk
    assert entry.before["status"] == status
    assert entry.after["status"] == target
    assert entry.after["action"] == action
    assert entry.after["comment"] == "Пояснение"


def test_rejected_transition_writes_nothing(consultation, demo):
    rows = Transition.objects.count()
    entries = JournalEntry.objects.count()

    with pytest.raises(Conflict):
        act(demo["operator"], consultation, "submit")

    assert Transition.objects.count() == rows
    assert JournalEntry.objects.count() == entries


def test_transition_records_protocol_version(demo):
    consultation = consultation_in(demo, Status.IN_REVIEW)

    row = Transition.objects.filter(consultation=consultation, action="submit").get()

    assert row.details == {"protocol_version": 1}


# -- forward


def test_forward_moves_to_department(consultation, demo):
    consultation = services.forward(
        demo["operator"], consultation.pk, department_code="B", reason="Паспорт"
    )

    consultation.refresh_from_db()
    assert consultation.department.code == "B"
    assert consultation.assignee_id is None


def test_forward_writes_transition_with_details(consultation, demo):
    old_deadline = consultation.deadline

    services.forward(
        demo["operator"], consultation.pk, department_code="B", reason="Паспорт"
    )

    row = Transition.objects.get(consultation=consultation, action="forward")
    consultation.refresh_from_db()
    assert row.from_status == row.to_status == Status.INITIATED
    assert row.comment == "Паспорт"
    assert row.details["from_department"] == "A"
    assert row.details["to_department"] == "B"
    assert row.details["old_deadline"] == old_deadline.isoformat()
    assert row.details["new_deadline"] == consultation.deadline.isoformat()


def test_forward_restarts_deadline(consultation, demo):
    before = timezone.now()

    consultation = services.forward(
        demo["operator"], consultation.pk, department_code="B", reason="Паспорт"
    )

    assert consultation.deadline >= before + timedelta(days=30)


def test_forward_journals_entry(consultation, demo):
    services.forward(
        demo["operator"], consultation.pk, department_code="B", reason="Паспорт"
    )

    [entry] = with_payloads(
        [
            JournalEntry.objects.get(
                consultation_id=consultation.pk, action="consultation:forward"
            )
        ]
    )
    assert entry.before["department_id"] != entry.after["department_id"]
    assert entry.after["reason"] == "Паспорт"


def test_forward_hides_from_old_department(consultation, demo):
    services.forward(
        demo["operator"], consultation.pk, department_code="B", reason="Паспорт"
    )

    with pytest.raises(NotFound):
        services.read_consultation(demo["operator"], consultation.pk)
    assert services.read_consultation(demo["operator2"], consultation.pk)


def test_forward_by_reviewer_rejected(consultation, demo):
    with pytest.raises(PermissionDenied):
        services.forward(
            demo["reviewer"], consultation.pk, department_code="B", reason="Паспорт"
        )


def test_forward_same_department_rejected(consultation, demo):
    with pytest.raises(ValidationFailed) as caught:
        services.forward(
            demo["operator"], consultation.pk, department_code="A", reason="Тот же"
        )

    assert caught.value.field == "department"


def test_forward_unknown_department_rejected(consultation, demo):
    with pytest.raises(ValidationFailed) as caught:
        services.forward(
            demo["operator"], consultation.pk, department_code="Z", reason="Нет"
        )

    assert caught.value.field == "department"


@pytest.mark.parametrize("status", [*SEALED, Status.WITHDRAWN])
def test_forward_after_closing_rejected(demo, status):
    consultation = consultation_in(demo, status)

    with pytest.raises(Conflict):
        services.forward(
            demo["supervisor"], consultation.pk, department_code="B", reason="Нет"
        )


# -- messages


def test_message_by_owner_saved(consultation, demo):
    message = services.add_message(
        demo["citizen"], consultation.pk, text="Добрый день", visibility="public"
    )

    assert message.author_name == "Анна Иванова"
    assert message.author_role == "citizen"


def test_message_journals_entry(consultation, demo):
    message = services.add_message(
        demo["operator"], consultation.pk, text="Заметка", visibility="internal"
    )

    entry = JournalEntry.objects.get(action="message:create")
    assert entry.object_id == str(message.pk)
    assert entry.after == {"visibility": "internal", "length": 7}


def test_internal_message_by_citizen_rejected(consultation, demo):
    with pytest.raises(PermissionDenied) as caught:
        services.add_message(
            demo["citizen"], consultation.pk, text="Тайна", visibility="internal"
        )

    assert caught.value.field == "visibility"


def test_message_by_auditor_rejected(consultation, demo):
    with pytest.raises(PermissionDenied):
        services.add_message(
            demo["auditor"], consultation.pk, text="Проверка", visibility="public"
        )


def test_message_unknown_visibility_rejected(consultation, demo):
    with pytest.raises(ValidationFailed) as caught:
        services.add_message(
            demo["citizen"], consultation.pk, text="Текст", visibility="secret"
        )

    assert caught.value.field == "visibility"


@pytest.mark.parametrize(
    "text", ["", "   ", "a\x00b", "x" * 20_001, "Сумма \u202e00001\u202c руб."]
)
def test_message_invalid_text_rejected(consultation, demo, text):
    with pytest.raises(ValidationFailed) as caught:
        services.add_message(
            demo["citizen"], consultation.pk, text=text, visibility="public"
        )

    assert caught.value.field == "text"


# -- sealed consultations


@pytest.mark.parametrize("status", SEALED)
@pytest.mark.parametrize(
    ("username", "visibility"),
    [("citizen", "public"), ("operator", "public"), ("operator", "internal")],
)
def test_message_after_signing_rejected(demo, status, username, visibility):
    consultation = consultation_in(demo, status)
    messages = Message.objects.count()

    with pytest.raises(Conflict) as caught:
        services.add_message(
            demo[username], consultation.pk, text="Ещё", visibility=visibility
        )

    assert caught.value.status == 409
    assert caught.value.field == "status"
    assert Message.objects.count() == messages


@pytest.mark.parametrize("status", SEALED)
@pytest.mark.parametrize("username", ["citizen", "operator"])
def test_attachment_after_signing_rejected(demo, status, username):
    consultation = consultation_in(demo, status)

    with pytest.raises(Conflict) as caught:
        attachments.add_attachment(demo[username], consultation.pk, upload())

    assert caught.value.status == 409
    assert Attachment.objects.count() == 0


# -- reading


def test_read_journals_entry(consultation, demo):
    services.read_consultation(demo["operator"], consultation.pk, via="api")

    entry = JournalEntry.objects.filter(action="consultation:read").get()
    assert entry.actor_id == demo["operator"].pk
    assert entry.consultation_id == consultation.pk
    assert entry.after == {"via": "api"}


@pytest.mark.parametrize("consultation_id", ["999999", "abc", None, "-1"])
def test_read_missing_id_not_found(demo, consultation_id):
    with translation.override("en"), pytest.raises(NotFound) as caught:
        services.read_consultation(demo["supervisor"], consultation_id)

    assert caught.value.as_dict() == {
        "error": "not_found",
        "message": "Consultation not found.",
        "field": "consultation_id",
    }


def test_read_by_other_citizen_same_as_missing(consultation, demo):
    with pytest.raises(NotFound) as hidden:
        services.read_consultation(demo["citizen2"], consultation.pk)
    with pytest.raises(NotFound) as missing:
        services.read_consultation(demo["citizen2"], consultation.pk + 1000)

    assert hidden.value.as_dict() == missing.value.as_dict()


def test_list_filters_by_status(demo):
    drafting = consultation_in(demo, Status.DRAFTING)
    consultation_in(demo, Status.INITIATED)

    found = services.list_consultations(demo["supervisor"], status="drafting")

    assert [c.pk for c in found] == [drafting.pk]


def test_list_unknown_status_rejected(demo):
    with pytest.raises(ValidationFailed) as caught:
        services.list_consultations(demo["supervisor"], status="lost")

    assert caught.value.field == "status"


def test_list_filters_by_number(demo):
    first = open_consultation(demo["citizen"])
    open_consultation(demo["citizen"])

    found = services.list_consultations(demo["citizen"], q=first.number)

    assert [c.pk for c in found] == [first.pk]


def test_list_newest_first(demo):
    first = open_consultation(demo["citizen"])
    second = open_consultation(demo["citizen"])

    found = services.list_consultations(demo["citizen"])

    assert [c.pk for c in found] == [second.pk, first.pk]


def test_sign_stores_seal_signature_and_journals_it(demo):
    from protokol.signing.models import Signature

    signed = consultation_in(demo, Status.SIGNED)

    signatures = Signature.objects.filter(consultation=signed)
    entry = JournalEntry.objects.filter(
        consultation_id=signed.pk, action="consultation:transition"
    ).latest("index")
    assert "seal" in set(signatures.values_list("kind", flat=True))
    assert entry.after["action"] == "sign"
    assert len(entry.after["signatures"]) == signatures.count()
