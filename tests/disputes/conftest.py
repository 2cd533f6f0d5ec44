"""A signed consultation of department A and an expert from department B."""

import pytest

from consultations.factories import consultation_in
from protokol.accounts.models import Department
from protokol.accounts.services import create_user
from protokol.consultations.models import Status


@pytest.fixture
def expert(demo):
    """A reviewer of department B, who cannot see department A's consultations."""
    return create_user(
        "reviewer_b",
        role="reviewer",
        password="demo",
        first_name="Вера",
        last_name="Лебедева",
        departments=[Department.objects.get(code="B")],
    )


@pytest.fixture
def signed(demo):
    """A consultation that the demo reviewer approved and signed."""
    return consultation_in(demo, Status.SIGNED)


CLAIMS = "В протоколе не указано, что я представила справку о доходах."
