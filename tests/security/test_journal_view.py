"""Denials in a consultation's journal: auditors see them, the citizen does not."""

import pytest

from protokol.consultations import services
from protokol.errors import NotFound


@pytest.fixture
def tried(consultation, demo):
    """The demo citizen's consultation after citizen2 tried to open it."""
    with pytest.raises(NotFound):
        services.read_consultation(demo["citizen2"], consultation.pk)
    return consultation


def journal_actions(client, user, consultation) -> list[str]:
    client.force_login(user)
    response = client.get(f"/api/v1/consultations/{consultation.pk}/journal")
    assert response.status_code == 200, response.content
    return [entry["action"] for entry in response.json()]


@pytest.mark.parametrize(
    ("username", "sees"),
    [
        ("auditor", True),
        ("supervisor", True),
        ("admin", True),
        ("citizen", False),
        ("operator", False),
    ],
)
def test_denials_shown_by_role(tried, client, demo, username, sees):
    actions = journal_actions(client, demo[username], tried)

    assert ("access:denied" in actions) is sees
    assert "consultation:create" in actions


def test_auditor_sees_who_tried(tried, client, demo):
    client.force_login(demo["auditor"])

    entries = client.get(f"/api/v1/consultations/{tried.pk}/journal").json()

    (denial,) = [entry for entry in entries if entry["action"] == "access:denied"]
    assert denial["actor_name"] == demo["citizen2"].display_name
