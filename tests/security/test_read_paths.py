"""Every read path journals the read, or the denial when the caller may not read."""

import pytest

from .conftest import last_index, new_entries

PAGE = "/consultations/{c}"
API = "/api/v1/consultations/{c}"
OWN_PAGE = "/consultations/{other}"
OWN_API = "/api/v1/consultations/{other}"
READ = "consultation:read"

# (id, path, reader, read action): the reader gets 200 and one read entry.
READS = [
    ("page", f"{PAGE}/", "citizen", READ),
    ("page-file", f"{PAGE}/attachments/{{a}}/", "citizen", "attachment:read"),
    ("page-pdf", f"{PAGE}/protocol.pdf", "citizen", "copy:read"),
    ("api", API, "citizen", READ),
    ("api-protocol", f"{API}/protocol", "citizen", READ),
    ("api-file", f"{API}/attachments/{{a}}", "citizen", "attachment:read"),
    ("api-pdf", f"{API}/protocol.pdf", "citizen", "copy:read"),
    ("api-journal", f"{API}/journal", "citizen", "journal:read"),
    ("signatures", f"{API}/signatures", "citizen", READ),
    ("signature-p7s", f"{API}/signatures/{{s}}.p7s", "citizen", READ),
    ("signature-document", f"{API}/signatures/{{s}}/document", "citizen", READ),
    ("journal-entry", "/api/v1/journal/entries/0", "auditor", "journal:read"),
]

# (id, path, outsider): the outsider gets 404, and one access:denied entry
# names the consultation aimed at.
DENIALS = [
    ("page", f"{PAGE}/", "citizen2"),
    ("page-file", f"{PAGE}/attachments/{{a}}/", "citizen2"),
    ("page-pdf", f"{PAGE}/protocol.pdf", "operator2"),
    ("api", API, "citizen2"),
    ("api-protocol", f"{API}/protocol", "operator2"),
    ("api-file", f"{API}/attachments/{{a}}", "citizen2"),
    ("api-pdf", f"{API}/protocol.pdf", "citizen2"),
    ("api-journal", f"{API}/journal", "citizen2"),
    ("signatures", f"{API}/signatures", "citizen2"),
    ("signature-p7s", f"{API}/signatures/{{s}}.p7s", "citizen2"),
    ("signature-document", f"{API}/signatures/{{s}}/document", "operator2"),
]

# (id, path, object type): citizen2 asks for an object of the other
# consultation under their own and gets 404; the denial names its consultation.
FOREIGN_OBJECTS = [
    ("page-file", f"{OWN_PAGE}/attachments/{{a}}/", "attachment"),
    ("api-file", f"{OWN_API}/attachments/{{a}}", "attachment"),
    ("signature-p7s", f"{OWN_API}/signatures/{{s}}.p7s", "signature"),
    ("signature-document", f"{OWN_API}/signatures/{{s}}/document", "signature"),
]


@pytest.mark.parametrize(
    ("path", "reader", "action"),
    [row[1:] for row in READS],
    ids=[row[0] for row in READS],
)
def test_read_is_journaled(world, client, path, reader, action):
    client.force_login(world.users[reader])
    start = last_index()

    response = client.get(path.format(**world.ids))

    assert response.status_code == 200, response.content[:300]
    reads = [entry for entry in new_entries(start) if entry.action == action]
    assert len(reads) == 1
    assert reads[0].actor_id == world.users[reader].pk
    if reader == "citizen":
        assert reads[0].consultation_id == world.consultation.pk


def assert_one_denial(start, world, username, object_type, reason):
    entries = new_entries(start)
    denials = [entry for entry in entries if entry.action == "access:denied"]
    assert len(denials) == 1, [entry.action for entry in entries]
    denial = denials[0]
    assert denial.actor_id == world.users[username].pk
    assert denial.object_type == object_type
    assert denial.after["reason"] == reason
    assert denial.after["ip"] == "127.0.0.1"
    assert denial.consultation_id == world.consultation.pk
    reads = {"consultation:read", "attachment:read", "copy:read", "journal:read"}
    assert not [
        entry
        for entry in entries
        if entry.action in reads and entry.consultation_id == world.consultation.pk
    ]


@pytest.mark.parametrize(
    ("path", "outsider"), [row[1:] for row in DENIALS], ids=[row[0] for row in DENIALS]
)
def test_denial_is_journaled(world, client, path, outsider):
    client.force_login(world.users[outsider])
    start = last_index()

    response = client.get(path.format(**world.ids))

    assert response.status_code == 404
    assert_one_denial(start, world, outsider, "consultation", "not_visible")


@pytest.mark.parametrize(
    ("path", "object_type"),
    [row[1:] for row in FOREIGN_OBJECTS],
    ids=[row[0] for row in FOREIGN_OBJECTS],
)
def test_foreign_object_denial_is_journaled(world, client, path, object_type):
    client.force_login(world.users["citizen2"])
    start = last_index()

    response = client.get(path.format(**world.ids))

    assert response.status_code == 404
    assert_one_denial(start, world, "citizen2", object_type, "other_consultation")


@pytest.mark.parametrize("username", ["citizen", "operator", "reviewer"])
def test_journal_entry_by_index_denied_by_role(world, client, username):
    client.force_login(world.users[username])
    start = last_index()

    response = client.get("/api/v1/journal/entries/0")

    assert response.status_code == 403
    (denial,) = new_entries(start)
    assert denial.action == "access:denied"
    assert denial.object_type == "journal_entry"
    assert denial.after["reason"] == "role"


def test_missing_consultation_denial_has_no_consultation(world, client):
    client.force_login(world.users["citizen2"])
    start = last_index()

    client.get("/api/v1/consultations/987654")

    (denial,) = new_entries(start)
    assert denial.after["reason"] == "not_found"
    assert denial.object_id == "987654"
    assert denial.consultation_id is None
