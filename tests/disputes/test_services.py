"""The dispute procedure through its service functions."""

import pytest
from django.utils import translation

from protokol.consultations import services as consultations
from protokol.consultations.models import Status
from protokol.disputes import permissions, services
from protokol.disputes.models import Conclusion, Dispute, DisputeStatus
from protokol.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from protokol.journal.models import JournalEntry
from protokol.journal.services import with_payloads
from protokol.protocols.models import Addendum, ProtocolVersion
from protokol.signing import pki
from protokol.signing.models import Signature
from protokol.signing.verify import check_cms

from .conftest import CLAIMS


def _open(demo, signed):
    return services.open_dispute(demo["citizen"], signed.pk, claims=CLAIMS)


def _assigned(demo, signed, expert):
    dispute = _open(demo, signed)
    return services.assign_expert(
        demo["supervisor"], dispute.pk, expert=expert.username
    )


def test_open_dispute_records_claims(demo, signed):
    dispute = _open(demo, signed)

    signed.refresh_from_db()
    assert signed.status == Status.DISPUTED
    assert dispute.claims == CLAIMS
    assert dispute.status == DisputeStatus.OPEN
    assert dispute.protocol_version == 1
    assert dispute.citizen == demo["citizen"]
    entry = JournalEntry.objects.get(action="dispute:open")
    assert entry.actor_id == demo["citizen"].pk
    assert entry.consultation_id == signed.pk
    assert entry.after["dispute_id"] == dispute.pk


def test_plain_dispute_transition_records_claims(demo, signed):
    consultations.transition(
        demo["citizen"], signed.pk, action="dispute", comment=CLAIMS
    )

    assert Dispute.objects.get(consultation=signed).claims == CLAIMS


def test_open_dispute_needs_claims(demo, signed):
    with pytest.raises(ValidationFailed) as failure:
        services.open_dispute(demo["citizen"], signed.pk, claims="  ")

    assert failure.value.field == "claims"
    assert not Dispute.objects.exists()


def test_open_dispute_of_unsigned_rejected(demo, consultation):
    with pytest.raises(Conflict):
        services.open_dispute(demo["citizen"], consultation.pk, claims=CLAIMS)

    assert not Dispute.objects.exists()


def test_assign_expert_journaled(demo, signed, expert):
    dispute = _assigned(demo, signed, expert)

    assert dispute.expert == expert
    assert dispute.status == DisputeStatus.ASSIGNED
    [entry] = with_payloads([JournalEntry.objects.get(action="dispute:assign")])
    assert entry.actor_id == demo["supervisor"].pk
    assert entry.after["expert_id"] == expert.pk
    assert entry.after["expert"] == "Вера Лебедева"


def test_unqualified_expert_role_translated(demo, signed):
    dispute = _open(demo, signed)

    with translation.override("ru"), pytest.raises(ValidationFailed) as failure:
        services.assign_expert(demo["supervisor"], dispute.pk, expert="operator")

    assert "оператор" in failure.value.message
    assert "— operator" not in failure.value.message


@pytest.mark.parametrize(
    ("username", "named"),
    [
        ("reviewer", "signed or wrote"),
        ("operator", "reviewer or"),
        ("nobody", "No active user"),
    ],
)
def test_assign_unqualified_expert_rejected(english, demo, signed, username, named):
    dispute = _open(demo, signed)

    with pytest.raises(ValidationFailed) as failure:
        services.assign_expert(demo["supervisor"], dispute.pk, expert=username)

    assert failure.value.field == "expert"
    assert named in failure.value.message
    assert username in failure.value.message
    dispute.refresh_from_db()
    assert dispute.expert is None


@pytest.mark.parametrize("username", ["operator", "auditor", "admin"])
def test_unqualified_expert_message_english(english, demo, signed, username):
    dispute = _open(demo, signed)
    role = demo[username].get_role_display()

    with pytest.raises(ValidationFailed) as failure:
        services.assign_expert(demo["supervisor"], dispute.pk, expert=username)

    assert failure.value.message == (
        f"'{username}' has the role '{role}'; "
        "the expert must be a reviewer or a supervisor."
    )


def test_assign_by_non_supervisor_denied(demo, signed, expert):
    dispute = _open(demo, signed)

    with pytest.raises(PermissionDenied):
        services.assign_expert(demo["operator"], dispute.pk, expert=expert.username)

    denial = JournalEntry.objects.get(action="access:denied")
    assert denial.object_type == "dispute"
    assert denial.actor_id == demo["operator"].pk


def test_expert_reads_record_without_consultation_access(demo, signed, expert):
    dispute = _assigned(demo, signed, expert)

    with pytest.raises(NotFound):
        consultations.get_visible(expert, signed.pk)
    seen = services.read_dispute(expert, dispute.pk)

    assert seen.pk == dispute.pk
    assert JournalEntry.objects.filter(
        action="dispute:read", actor_id=expert.pk
    ).exists()


def test_other_citizen_gets_not_found(demo, signed):
    dispute = _open(demo, signed)

    with pytest.raises(NotFound):
        services.read_dispute(demo["citizen2"], dispute.pk)

    denial = JournalEntry.objects.get(action="access:denied")
    assert denial.after["reason"] == "not_visible"


def test_conclusion_signed_as_addendum(demo, signed, expert):
    pki.issue_user_certificate(expert)
    dispute = _assigned(demo, signed, expert)
    versions_before = list(ProtocolVersion.objects.values())
    signatures_before = list(Signature.objects.values_list("pk", "cms"))

    conclusion = services.write_conclusion(
        expert, dispute.pk, text="Справка учтена; протокол верен по существу."
    )

    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.CONCLUDED
    addendum = Addendum.objects.get(pk=conclusion.addendum_id)
    assert addendum.kind == "expert_conclusion"
    assert addendum.text == conclusion.text
    # The original protocol and its signatures are untouched.
    assert list(ProtocolVersion.objects.values()) == versions_before
    assert list(Signature.objects.values_list("pk", "cms")) == signatures_before

    kinds = sorted(s.kind for s in conclusion.signatures.all())
    assert kinds == ["seal", "signer"]
    for signature in conclusion.signatures.all():
        check = check_cms(
            bytes(signature.cms),
            bytes(conclusion.document),
            [pki.root_certificate()],
            timestamp_roots=pki.timestamp_roots(),
        )
        assert check.ok, check.problems
        assert check.timestamp_time is not None
    entry = JournalEntry.objects.get(action="dispute:conclusion")
    assert entry.after["document_sha256"] == conclusion.document_sha256
    assert len(entry.after["signatures"]) == 2


def test_conclusion_document_binds_protocol_signatures(demo, signed, expert):
    import json

    dispute = _assigned(demo, signed, expert)

    conclusion = services.write_conclusion(expert, dispute.pk, text="Заключение")

    document = json.loads(bytes(conclusion.document))
    signed_hashes = set(
        Signature.objects.filter(consultation=signed).values_list(
            "signed_data_sha256", flat=True
        )
    )
    assert set(document["dispute"]["protocol_signed_data_sha256"]) == signed_hashes
    assert document["conclusion"]["expert_name"] == "Вера Лебедева"
    assert CLAIMS not in bytes(conclusion.document).decode()


def test_conclusion_by_other_than_expert_denied(demo, signed, expert):
    dispute = _assigned(demo, signed, expert)

    with pytest.raises(PermissionDenied):
        services.write_conclusion(demo["supervisor"], dispute.pk, text="Заключение")

    assert not Conclusion.objects.exists()
    assert JournalEntry.objects.filter(action="access:denied").exists()


def test_conclusion_before_assignment_rejected(demo, signed, expert):
    dispute = _open(demo, signed)

    # Before the assignment the expert cannot even see the dispute.
    with pytest.raises(NotFound):
        services.write_conclusion(expert, dispute.pk, text="Заключение")
    with pytest.raises(PermissionDenied):
        services.write_conclusion(demo["supervisor"], dispute.pk, text="Заключение")


def test_close_needs_signed_conclusion(demo, signed, expert):
    dispute = _assigned(demo, signed, expert)

    with pytest.raises(Conflict) as failure:
        services.close_dispute(
            demo["supervisor"], dispute.pk, outcome="conclude", comment="Итог"
        )

    assert failure.value.field == "status"
    signed.refresh_from_db()
    assert signed.status == Status.DISPUTED


@pytest.mark.parametrize(
    ("outcome", "status"),
    [("conclude", Status.ARCHIVED), ("reopen", Status.DRAFTING)],
)
def test_close_after_conclusion(demo, signed, expert, outcome, status):
    dispute = _assigned(demo, signed, expert)
    services.write_conclusion(expert, dispute.pk, text="Заключение")

    closed = services.close_dispute(
        demo["supervisor"], dispute.pk, outcome=outcome, comment="Итог"
    )

    signed.refresh_from_db()
    assert signed.status == status
    assert closed.status == DisputeStatus.CLOSED
    assert closed.outcome == outcome
    entry = JournalEntry.objects.get(action="dispute:close")
    assert entry.after["with_conclusion"] is True


def test_close_twice_names_closed_state(demo, signed, expert, english):
    dispute = _assigned(demo, signed, expert)
    services.write_conclusion(expert, dispute.pk, text="Заключение")
    services.close_dispute(
        demo["supervisor"], dispute.pk, outcome="conclude", comment="Итог"
    )

    with pytest.raises(Conflict) as failure:
        services.close_dispute(
            demo["supervisor"], dispute.pk, outcome="conclude", comment="Итог"
        )

    assert failure.value.field == "status"
    assert "closed already" in str(failure.value)
    assert "comes first" not in str(failure.value)


def test_close_with_unknown_outcome_rejected(demo, signed):
    dispute = _open(demo, signed)

    with pytest.raises(ValidationFailed) as failure:
        services.close_dispute(
            demo["supervisor"], dispute.pk, outcome="drop", comment="Итог"
        )

    assert failure.value.field == "outcome"


def test_plain_conclude_closes_dispute(demo, signed):
    dispute = _open(demo, signed)

    consultations.transition(
        demo["supervisor"], signed.pk, action="conclude", comment="Итог"
    )

    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.CLOSED
    entry = JournalEntry.objects.get(action="dispute:close")
    assert entry.after["with_conclusion"] is False


def test_reopened_consultation_disputed_again(demo, signed):
    from consultations.factories import PROTOCOL, act
    from protokol.protocols.services import save_protocol

    first = _open(demo, signed)
    act(demo["supervisor"], signed, "reopen")
    save_protocol(demo["operator"], signed.pk, **PROTOCOL)
    for user, action in [
        ("operator", "submit"),
        ("reviewer", "approve"),
        ("reviewer", "sign"),
    ]:
        act(demo[user], signed, action)

    second = _open(demo, signed)

    assert second.pk != first.pk
    assert second.protocol_version == 2
    assert Dispute.objects.filter(consultation=signed).count() == 2


def test_approver_cannot_be_expert(demo):
    from consultations.factories import act, consultation_in

    # The reviewer approves and the supervisor signs, so the approver is
    # neither a signer nor the author but still took part in the protocol.
    consultation = consultation_in(demo, Status.APPROVED)
    act(demo["supervisor"], consultation, "sign")
    dispute = _open(demo, consultation)

    with translation.override("en"), pytest.raises(ValidationFailed) as caught:
        services.assign_expert(demo["supervisor"], dispute.pk, expert="reviewer")

    assert caught.value.field == "expert"
    assert "approved the disputed protocol" in caught.value.message
    dispute.refresh_from_db()
    assert dispute.expert_id is None
    assert demo["reviewer"] not in permissions.expert_candidates(dispute)
