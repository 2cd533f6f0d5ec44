"""Creating and deleting webhooks is journaled, never with the secret."""

import json

import pytest

from protokol.errors import NotFound, PermissionDenied
from protokol.journal.models import JournalEntry
from protokol.journal.services import with_payloads
from protokol.notifications import services
from protokol.notifications.models import Webhook


def _create(actor, **fields):
    return services.create_webhook(
        actor,
        name="CRM отдела",
        url="http://127.0.0.1:9/hook",
        department="A",
        events=["dispute_opened"],
        **fields,
    )


def test_create_journaled_without_secret(demo):
    webhook = _create(demo["admin"])

    entry = JournalEntry.objects.get(action="webhook:create")
    assert entry.actor_id == demo["admin"].pk
    assert entry.object_id == str(webhook.pk)
    assert entry.after["url"] == "http://127.0.0.1:9/hook"
    assert entry.after["department"] == "A"
    assert entry.after["events"] == ["dispute_opened"]
    assert webhook.secret not in json.dumps(entry.after)


def test_create_from_command_line_journaled_as_system(demo):
    _create(None)

    [entry] = with_payloads([JournalEntry.objects.get(action="webhook:create")])
    assert entry.actor_id is None
    assert entry.actor_name == "system"


def test_rejected_create_writes_nothing(demo):
    with pytest.raises(PermissionDenied):
        _create(demo["operator"])

    assert not Webhook.objects.exists()
    assert not JournalEntry.objects.filter(action="webhook:create").exists()


def test_delete_journaled_with_old_values(demo):
    webhook = _create(demo["admin"])

    services.delete_webhook(demo["admin"], webhook.pk)

    entry = JournalEntry.objects.get(action="webhook:delete")
    assert entry.before["name"] == "CRM отдела"
    assert entry.object_id == str(webhook.pk)
    assert webhook.secret not in json.dumps(entry.before)
    assert not Webhook.objects.exists()


def test_delete_missing_writes_nothing(demo):
    with pytest.raises(NotFound):
        services.delete_webhook(demo["admin"], 4711)

    assert not JournalEntry.objects.filter(action="webhook:delete").exists()


def test_api_create_and_delete_journaled(api_client, client, demo):
    api_client.login("admin")
    created = api_client.post(
        "/api/v1/notifications/webhooks",
        {"name": "crm", "url": "http://127.0.0.1:9/hook"},
    ).json()
    client.force_login(demo["admin"])

    deleted = client.delete(f"/api/v1/notifications/webhooks/{created['id']}")

    assert deleted.status_code == 204
    actions = list(
        JournalEntry.objects.filter(object_type="webhook").values_list(
            "action", flat=True
        )
    )
    assert actions == ["webhook:create", "webhook:delete"]
