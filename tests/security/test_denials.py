"""Denials of every route kind are journaled and add up to one alert per actor."""

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission

from consultations.factories import upload
from protokol.consultations import attachments
from protokol.journal.models import JournalEntry
from protokol.journal.services import with_payloads

from .conftest import last_index, new_entries

# (id, path, method): attempts of `citizen2` on `citizen`'s consultation and
# on staff-only routes, one of each route kind.
ATTEMPTS = [
    ("page", "/consultations/{c}/", "get"),
    ("api-detail", "/api/v1/consultations/{c}", "get"),
    ("api-journal", "/api/v1/consultations/{c}/journal", "get"),
    ("file", "/consultations/{c}/attachments/{a}/", "get"),
    ("copy", "/api/v1/consultations/{c}/protocol.pdf", "get"),
    ("event-stream", "/consultations/{c}/events/", "get"),
    ("analytics-page", "/analytics/consultations/", "get"),
    ("analytics-api", "/api/v1/analytics/statistics", "get"),
    ("journal-entry", "/api/v1/journal/entries/0", "get"),
    ("webhooks", "/api/v1/notifications/webhooks", "get"),
    ("write", "/consultations/{c}/messages/", "post"),
]


@pytest.fixture
def threshold(monkeypatch):
    monkeypatch.setattr(settings.CONFIG, "security_alert_denials", 4)
    monkeypatch.setattr(settings.CONFIG, "security_alert_window_seconds", 600)
    return 4


@pytest.fixture
def ids(consultation, demo):
    attachment = attachments.add_attachment(demo["citizen"], consultation.pk, upload())
    return {"c": consultation.pk, "a": attachment.pk}


def attempt(client, ids, path, method):
    response = getattr(client, method)(path.format(**ids))
    if response.streaming:
        response.close()
    return response


@pytest.mark.parametrize(
    ("path", "method"), [row[1:] for row in ATTEMPTS], ids=[row[0] for row in ATTEMPTS]
)
def test_each_route_kind_journals_denial(client, demo, ids, path, method):
    client.force_login(demo["citizen2"])
    start = last_index()

    response = attempt(client, ids, path, method)

    assert response.status_code in (403, 404)
    denials = [e for e in new_entries(start) if e.action == "access:denied"]
    assert len(denials) == 1
    assert denials[0].actor_id == demo["citizen2"].pk
    assert denials[0].after["ip"] == "127.0.0.1"


def test_route_denial_names_route(client, demo):
    client.force_login(demo["citizen"])
    start = last_index()

    client.get("/api/v1/notifications/dead-letters")

    (denial,) = with_payloads(new_entries(start))
    assert denial.object_type == "route"
    assert denial.object_label == "/api/v1/notifications/dead-letters"
    assert denial.after == {
        "reason": "forbidden",
        "operation": "GET",
        "ip": "127.0.0.1",
    }


def test_attempts_across_kinds_raise_one_alert(client, demo, ids, threshold):
    client.force_login(demo["citizen2"])

    for _, path, method in ATTEMPTS:
        attempt(client, ids, path, method)

    alerts = list(JournalEntry.objects.filter(action="security:alert"))
    assert len(alerts) == 1
    assert alerts[0].object_type == "user"
    assert alerts[0].object_id == str(demo["citizen2"].pk)
    assert alerts[0].after["denials"] == threshold


def test_anonymous_attempts_not_journaled(client, ids):
    start = last_index()

    for _, path, method in ATTEMPTS:
        response = attempt(client, ids, path, method)
        assert response.status_code in (302, 401), path

    assert new_entries(start) == []


@pytest.mark.parametrize("username", ["auditor", "admin"])
def test_personal_data_needs_grant(api_client, demo, ids, username):
    client = api_client.login(username)
    start = last_index()

    values = client.get("/api/v1/consultations/{c}/data".format(**ids))
    file = client.get("/api/v1/consultations/{c}/attachments/{a}".format(**ids))

    assert values.status_code == 403
    assert values.json()["field"] == "values"
    denials = [e for e in new_entries(start) if e.action == "access:denied"]
    assert denials[0].after["reason"] == "forbidden"
    if username == "auditor":
        assert file.status_code == 403
        assert file.json()["field"] == "attachment_id"
        assert denials[1].after["reason"] == "not_granted"
    else:
        assert file.status_code == 200


def test_auditor_with_grant_reads_personal_data(api_client, demo, ids):
    auditor = demo["auditor"]
    auditor.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_collecteddata", "view_attachment"],
            content_type__app_label="consultations",
        )
    )
    client = api_client.login("auditor")
    start = last_index()

    values = client.get("/api/v1/consultations/{c}/data".format(**ids))
    file = client.get("/api/v1/consultations/{c}/attachments/{a}".format(**ids))

    assert values.status_code == 200
    assert file.status_code == 200
    reads = [e.action for e in new_entries(start)]
    assert "attachment:read" in reads
    assert "access:denied" not in reads


def test_auditor_reads_journal_without_grant(api_client, ids):
    client = api_client.login("auditor")

    journal = client.get("/api/v1/consultations/{c}/journal".format(**ids))
    entry = client.get("/api/v1/journal/entries/0")

    assert journal.status_code == 200
    assert entry.status_code == 200
