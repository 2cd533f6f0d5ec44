"""Deleting a consultation whose signed protocol was disputed."""

import pytest
from django.db import DatabaseError, transaction

from disputes import conftest as dispute_fixtures
from protokol.disputes import services as disputes
from protokol.disputes.models import Conclusion, ConclusionSignature, Dispute
from protokol.protocols.models import Addendum
from protokol.retention import disposal
from protokol.retention.services import set_policy
from protokol.signing import pki

from .conftest import close_years_ago

# The dispute tests' fixtures, shared with this module.
expert = dispute_fixtures.expert
signed = dispute_fixtures.signed


@pytest.fixture
def disputed(demo, signed, expert):
    """A signed consultation disputed, concluded by an expert and archived."""
    pki.issue_user_certificate(expert)
    dispute = disputes.open_dispute(
        demo["citizen"], signed.pk, claims=dispute_fixtures.CLAIMS
    )
    disputes.assign_expert(demo["supervisor"], dispute.pk, expert=expert.username)
    disputes.write_conclusion(expert, dispute.pk, text="Протокол верен.")
    disputes.close_dispute(
        demo["supervisor"], dispute.pk, outcome="conclude", comment="Итог"
    )
    signed.refresh_from_db()
    close_years_ago(signed, 6)
    return signed


def test_delete_removes_dispute(demo, disputed):
    set_policy(demo["admin"], "GEN", years=5, end_action="delete")

    result = disposal.run()

    assert [d.consultation_id for d in result.disposals] == [disputed.pk]
    assert result.failed == []
    assert not Dispute.objects.filter(consultation_id=disputed.pk).exists()
    assert not Conclusion.objects.exists()
    assert not ConclusionSignature.objects.exists()
    assert not Addendum.objects.filter(consultation_id=disputed.pk).exists()
    removed = result.disposals[0].removed
    assert removed["disputes"] == 1
    assert removed["conclusion_signatures"] == 2


@pytest.mark.parametrize("statement", ["UPDATE", "DELETE"])
def test_conclusion_signature_append_only(demo, disputed, statement):
    signature = ConclusionSignature.objects.first()

    with pytest.raises(DatabaseError), transaction.atomic():
        rows = ConclusionSignature.objects.filter(pk=signature.pk)
        if statement == "UPDATE":
            rows.update(signer_name="Подменённое имя")
        else:
            rows.delete()
