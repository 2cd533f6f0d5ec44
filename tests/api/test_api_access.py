"""Who reaches which consultation through the API, and what outsiders see."""

import pytest

from consultations.factories import (
    PROTOCOL,
    act,
    consultation_in,
    open_consultation,
    upload,
)
from protokol.consultations import attachments
from protokol.consultations.models import Consultation, Status
from protokol.journal.models import JournalEntry
from protokol.protocols.services import save_protocol

from .client import write_counts

MISSING_ID = 424242


@pytest.fixture
def private(consultation, demo):
    """The citizen's department A consultation with an attachment and a draft."""
    attachment = attachments.add_attachment(demo["citizen"], consultation.pk, upload())
    save_protocol(demo["operator"], consultation.pk, **PROTOCOL)
    return consultation, attachment


def requests_for(consultation_id: int, attachment_id: int) -> list:
    """Every endpoint that touches one consultation, as (name, call) pairs."""
    base = f"/consultations/{consultation_id}"
    return [
        ("detail", lambda c: c.get(base)),
        ("protocol", lambda c: c.get(f"{base}/protocol")),
        ("pdf", lambda c: c.get(f"{base}/protocol.pdf")),
        ("journal", lambda c: c.get(f"{base}/journal")),
        ("download", lambda c: c.get(f"{base}/attachments/{attachment_id}")),
        (
            "message",
            lambda c: c.post(f"{base}/messages", {"text": "Чужое сообщение"}),
        ),
        ("upload", lambda c: c.upload(f"{base}/attachments", upload())),
        ("protocol_put", lambda c: c.put(f"{base}/protocol", PROTOCOL)),
        ("withdraw", lambda c: c.post(f"{base}/transitions", {"action": "withdraw"})),
        ("take", lambda c: c.post(f"{base}/transitions", {"action": "take"})),
        (
            "forward",
            lambda c: c.post(f"{base}/forward", {"department": "B", "reason": "Чужое"}),
        ),
    ]


@pytest.mark.parametrize("outsider", ["citizen2", "operator2"])
def test_outsider_gets_same_404_as_missing(api, private, outsider):
    consultation, attachment = private
    client = api(outsider)
    counts = write_counts()

    hidden = requests_for(consultation.pk, attachment.pk)
    missing = requests_for(MISSING_ID, attachment.pk)
    for (name, call), (_, call_missing) in zip(hidden, missing, strict=True):
        response = call(client)
        response_missing = call_missing(client)
        assert response.status_code == 404, name
        assert response.json() == response_missing.json(), name

    assert write_counts() == counts


@pytest.mark.parametrize("outsider", ["citizen2", "operator2"])
@pytest.mark.parametrize("offset", [1, 2, 1000])
def test_guessed_ids_not_found(api, demo, outsider, offset):
    first = open_consultation(demo["citizen"])
    open_consultation(demo["citizen"])
    open_consultation(demo["citizen"])
    missing = api(outsider).get(f"/consultations/{MISSING_ID}")

    response = api(outsider).get(f"/consultations/{first.pk - 1 + offset}")

    assert response.status_code == 404
    assert response.json() == missing.json()


def test_outsider_denial_journaled(api, private):
    consultation, _ = private
    client = api("citizen2")
    before = JournalEntry.objects.filter(action="access:denied").count()

    for _, call in requests_for(consultation.pk, 1):
        call(client)

    denied = JournalEntry.objects.filter(action="access:denied").count()
    assert denied - before == len(requests_for(consultation.pk, 1))


def test_outsider_attachment_of_own_consultation_not_found(api, private, demo):
    _, attachment = private
    own = open_consultation(demo["citizen2"])

    response = api("citizen2").get(
        f"/consultations/{own.pk}/attachments/{attachment.pk}"
    )

    assert response.status_code == 404
    assert response.json()["field"] == "attachment_id"


@pytest.fixture
def spread(demo):
    """Consultations of both citizens in departments A and B, by label."""
    b_drafting = open_consultation(demo["citizen2"], service_code="PAS")
    act(demo["operator2"], b_drafting, "take")
    return {
        "a_citizen_new": open_consultation(demo["citizen"]),
        "a_citizen_signed": consultation_in(demo, Status.SIGNED),
        "a_citizen2": open_consultation(demo["citizen2"], service_code="SOC"),
        "b_citizen": open_consultation(demo["citizen"], service_code="INN"),
        "b_citizen2_drafting": b_drafting,
    }


EVERYTHING = {
    "a_citizen_new",
    "a_citizen_signed",
    "a_citizen2",
    "b_citizen",
    "b_citizen2_drafting",
}
LISTED = {
    "citizen": {"a_citizen_new", "a_citizen_signed", "b_citizen"},
    "citizen2": {"a_citizen2", "b_citizen2_drafting"},
    "operator": {"a_citizen_new", "a_citizen_signed", "a_citizen2"},
    "reviewer": {"a_citizen_new", "a_citizen_signed", "a_citizen2"},
    "operator2": {"b_citizen", "b_citizen2_drafting"},
    "supervisor": EVERYTHING,
    "auditor": EVERYTHING,
    "admin": EVERYTHING,
}


@pytest.mark.parametrize("username", sorted(LISTED))
def test_list_returns_only_visible(api, spread, username):
    numbers = {label: c.number for label, c in spread.items()}

    body = api(username).get("/consultations", limit=100).json()

    listed = {
        label
        for label, number in numbers.items()
        if number in {item["number"] for item in body["items"]}
    }
    assert listed == LISTED[username]
    assert body["count"] == len(LISTED[username])


@pytest.mark.parametrize("username", sorted(LISTED))
def test_detail_reachable_exactly_when_listed(api, spread, username):
    client = api(username)

    reachable = {
        label
        for label, consultation in spread.items()
        if client.get(f"/consultations/{consultation.pk}").status_code == 200
    }

    assert reachable == LISTED[username]


def test_search_does_not_leak_other_citizens(api, spread):
    other = spread["a_citizen2"]

    body = api("citizen").get("/consultations", q=other.number).json()

    assert body == {"items": [], "count": 0, "more": False}


def test_department_filter_does_not_widen_scope(api, spread):
    body = api("operator").get("/consultations", department="B", limit=100).json()

    assert body["count"] == 0


def test_all_consultations_counted_for_supervisor(api, spread):
    body = api("supervisor").get("/consultations", limit=100).json()

    assert body["count"] == Consultation.objects.count()


@pytest.mark.parametrize(
    "path",
    [
        "/consultations/{huge}",
        "/disputes/{huge}",
        "/consultations/{huge}/attachments/{huge}",
    ],
)
def test_huge_id_not_found(api, demo, path):
    huge = "9" * 100

    response = api("supervisor").get(path.format(huge=huge))

    assert response.status_code == 404
    denial = JournalEntry.objects.filter(action="access:denied").latest("index")
    assert denial.object_id == huge[:64]
