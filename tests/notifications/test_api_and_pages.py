"""The notifications API, pages and input checks, without the worker.

Events are planned in-process here: the rolled-back `db` fixture never
commits, so no task would run.
"""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from protokol.consultations import services as consultations
from protokol.journal.models import JournalEntry
from protokol.notifications import services
from protokol.notifications.models import Notification, Preference, Webhook
from protokol.notifications.texts import describe
from protokol.settings import Config, email_settings
from protokol.workflow.extensions import extend_deadline


def plan_latest_entry():
    """Turn the newest journal entry into notifications, as the task does."""
    index = JournalEntry.objects.order_by("-index").first().index
    event = services.event_from_entry(index)
    services.plan_deliveries(event)
    return event


@pytest.fixture
def taken(demo, consultation):
    consultations.transition(demo["operator"], consultation.pk, action="take")
    plan_latest_entry()
    return consultation


def test_list_returns_own_notifications(api_client, taken):
    answer = api_client.login("citizen").get("/api/v1/notifications")

    assert answer.status_code == 200
    body = answer.json()
    assert body["unread"] == 1
    assert body["items"][0]["event"] == "status_changed"
    assert taken.number in body["items"][0]["text"]


@pytest.mark.parametrize("limit", [0, -1, 201])
def test_list_limit_out_of_range_is_422(api_client, demo, limit):
    answer = api_client.login("citizen").get(f"/api/v1/notifications?limit={limit}")

    assert answer.status_code == 422
    assert answer.json()["field"] == "limit"
    assert "200" in answer.json()["message"]


def test_list_is_empty_for_other_user(api_client, taken):
    body = api_client.login("citizen2").get("/api/v1/notifications").json()

    assert body == {"unread": 0, "items": []}


def test_mark_read_by_id(api_client, demo, taken):
    notification = Notification.objects.get(recipient=demo["citizen"])
    api_client.login("citizen")

    answer = api_client.post("/api/v1/notifications/read", {"ids": [notification.pk]})

    assert answer.status_code == 200
    assert answer.json() == {"marked": 1, "unread": 0}
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_mark_read_null_ids_rejected(api_client, demo, taken, english_pages):
    notification = Notification.objects.get(recipient=demo["citizen"])
    api_client.login("citizen")

    answer = api_client.post("/api/v1/notifications/read", {"ids": None})

    assert answer.status_code == 422
    assert answer.json()["field"] == "ids"
    assert answer.json()["error"] == "validation_failed"
    assert answer.json()["message"] == "ids must be a list."
    notification.refresh_from_db()
    assert notification.read_at is None


def test_mark_read_without_ids_marks_all(api_client, demo, taken):
    api_client.login("citizen")

    answer = api_client.post("/api/v1/notifications/read", {})

    assert answer.status_code == 200
    assert answer.json()["unread"] == 0
    assert not Notification.objects.filter(
        recipient=demo["citizen"], read_at__isnull=True
    ).exists()


def test_mark_read_of_other_users_rejected(api_client, demo, taken):
    notification = Notification.objects.get(recipient=demo["citizen"])

    answer = api_client.login("citizen2").post(
        "/api/v1/notifications/read", {"ids": [notification.pk]}
    )

    assert answer.status_code == 404
    assert answer.json()["field"] == "ids"
    notification.refresh_from_db()
    assert notification.read_at is None


def test_preferences_round_trip(api_client, demo):
    api_client.login("citizen")

    answer = api_client.put("/api/v1/notifications/preferences", {"email": False})

    assert answer.status_code == 200
    assert answer.json() == {"in_app": True, "email": False}
    assert Preference.objects.get(user=demo["citizen"]).email is False
    got = api_client.get("/api/v1/notifications/preferences").json()
    assert got == {"in_app": True, "email": False}


def test_preferences_reject_non_boolean(api_client, demo):
    api_client.login("citizen")

    answer = api_client.put("/api/v1/notifications/preferences", {"email": "yes"})

    assert answer.status_code == 422
    assert answer.json()["field"] == "email"
    assert not Preference.objects.filter(email=False).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "crm", "url": "ftp://127.0.0.1/x"}, "url"),
        ({"name": "crm", "url": "not a url"}, "url"),
        ({"name": "", "url": "http://127.0.0.1/x"}, "name"),
        ({"name": "crm", "url": "http://127.0.0.1/x", "events": ["nope"]}, "events"),
        (
            {"name": "crm", "url": "http://127.0.0.1/x", "department": "ZZ"},
            "department",
        ),
        ({"name": "crm", "url": "http://127.0.0.1/x", "secret": "x"}, "secret"),
        ({"name": "c\x01rm", "url": "http://127.0.0.1/x"}, "name"),
        ({"name": "c\u202erm", "url": "http://127.0.0.1/x"}, "name"),
        ({"name": "crm", "url": "http://127.0.0.1/a b"}, "url"),
        ({"name": "crm", "url": "http://127.0.0.1/a\x01"}, "url"),
        ({"name": "crm", "url": "http://[::1/x"}, "url"),
        ({"name": "crm", "url": "http://127.0.0.1:99999/x"}, "url"),
    ],
)
def test_webhook_bad_input_rejected(api_client, demo, body, field):
    answer = api_client.login("admin").post("/api/v1/notifications/webhooks", body)

    assert answer.status_code in (400, 422)
    assert answer.json()["field"] == field
    assert not Webhook.objects.exists()


def test_webhook_create_returns_secret_once(api_client, demo):
    api_client.login("admin")
    created = api_client.post(
        "/api/v1/notifications/webhooks",
        {"name": "crm", "url": "http://127.0.0.1:9/hook", "department": "A"},
    )

    assert created.status_code == 201
    assert len(created.json()["secret"]) >= 40
    listed = api_client.get("/api/v1/notifications/webhooks").json()
    assert listed[0]["department"] == "A"
    assert "secret" not in listed[0]


@pytest.mark.parametrize("username", ["operator", "supervisor", "citizen"])
def test_webhooks_and_dead_letters_admin_only(api_client, demo, username):
    api_client.login(username)

    created = api_client.post(
        "/api/v1/notifications/webhooks",
        {"name": "crm", "url": "http://127.0.0.1:9/hook"},
    )
    listed = api_client.get("/api/v1/notifications/dead-letters")
    replayed = api_client.post("/api/v1/notifications/dead-letters/replay", {})

    assert created.status_code == 403
    assert listed.status_code == 403
    assert replayed.status_code == 403
    assert not Webhook.objects.exists()


def test_replay_null_ids_rejected(api_client, demo):
    api_client.login("admin")

    answer = api_client.post("/api/v1/notifications/dead-letters/replay", {"ids": None})

    assert answer.status_code == 422
    assert answer.json()["field"] == "ids"


def test_replay_unknown_id_rejected(api_client, demo):
    api_client.login("admin")

    answer = api_client.post("/api/v1/notifications/dead-letters/replay", {"ids": [7]})

    assert answer.status_code == 404
    assert answer.json()["field"] == "ids"


def test_internal_note_planned_for_staff_only(demo, taken):
    consultations.add_message(
        demo["operator"], taken.pk, text="только для отдела", visibility="internal"
    )

    event = plan_latest_entry()

    recipients = set(
        Notification.objects.filter(event=event).values_list(
            "recipient__username", flat=True
        )
    )
    assert recipients == {"reviewer"}


def test_deadline_extension_notifies_citizen(demo, taken):
    extend_deadline(demo["supervisor"], taken.pk, days=10, reason="Запрос в ведомство")

    event = plan_latest_entry()
    assert event is not None
    assert event.params["action"] == "extend"
    recipients = set(
        Notification.objects.filter(event=event).values_list(
            "recipient__username", flat=True
        )
    )
    assert recipients == {"citizen", "operator"}
    text = describe(event.kind, event.params)
    assert "продлён" in text
    assert "Запрос в ведомство" not in text


def test_header_shows_unread_count(client, demo, taken):
    client.force_login(demo["citizen"])

    page = client.get("/my/")

    assert page.status_code == 200
    assert 'href="/notifications/"' in page.content.decode()
    assert '<span class="badge"' in page.content.decode()


def test_page_lists_and_marks_read(client, demo, taken):
    client.force_login(demo["citizen"])
    notification = Notification.objects.get(recipient=demo["citizen"])

    page = client.get("/notifications/")
    marked = client.post("/notifications/read/", {"id": notification.pk})

    assert taken.number in page.content.decode()
    assert marked.status_code == 302
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_page_writes_dates_day_first(client, demo, taken):
    client.force_login(demo["citizen"])
    notification = Notification.objects.get(recipient=demo["citizen"])
    created = timezone.localtime(notification.created_at).strftime("%d.%m.%Y %H:%M")

    for language in ("ru", "en"):
        page = client.get("/notifications/", HTTP_ACCEPT_LANGUAGE=language)
        assert created in page.content.decode(), language


def test_settings_page_turns_email_off(client, demo):
    client.force_login(demo["citizen"])

    saved = client.post("/notifications/settings/", {})

    assert saved.status_code == 302
    assert Preference.objects.get(user=demo["citizen"]).email is False


def test_email_url_parsed():
    parsed = email_settings(Config(email_url="smtps://mail%40x:p%3Ass@mx.local:2465"))

    assert parsed["EMAIL_HOST"] == "mx.local"
    assert parsed["EMAIL_PORT"] == 2465
    assert parsed["EMAIL_HOST_USER"] == "mail@x"
    assert parsed["EMAIL_HOST_PASSWORD"] == "p:ss"
    assert parsed["EMAIL_USE_SSL"] is True


def test_email_url_empty_sends_nothing():
    parsed = email_settings(Config(email_url=""))

    assert parsed["EMAIL_BACKEND"].endswith("dummy.EmailBackend")


def test_email_url_bad_scheme_rejected():
    with pytest.raises(RuntimeError, match="PROTOKOL_EMAIL_URL"):
        email_settings(Config(email_url="http://127.0.0.1:25"))


def test_webhook_delete(api_client, client, demo):
    api_client.login("admin")
    created = api_client.post(
        "/api/v1/notifications/webhooks",
        {"name": "crm", "url": "http://127.0.0.1:9/hook"},
    ).json()
    path = f"/api/v1/notifications/webhooks/{created['id']}"
    client.force_login(demo["admin"])

    deleted = client.delete(path)
    again = client.delete(path)

    assert deleted.status_code == 204
    assert again.status_code == 404
    assert again.json()["field"] == "webhook_id"
    assert not Webhook.objects.exists()


def test_mark_read_id_beyond_64_bits_is_422(api_client, demo):
    api_client.login("citizen")

    response = api_client.post("/api/v1/notifications/read", {"ids": [2**70]})

    assert response.status_code == 422
    assert response.json()["error"] == "validation_failed"


def test_mark_read_invalid_id_names_element(api_client, demo):
    api_client.login("citizen")

    response = api_client.post("/api/v1/notifications/read", {"ids": [1, "a"]})

    assert response.status_code == 422
    assert response.json()["field"] == "ids[1]"
    assert "ids[1]" in response.json()["message"]


def test_replay_unknown_delivery_message_in_english(db):
    # The command's own lines are English, so its errors are too, whatever
    # the installation's language.
    with pytest.raises(CommandError) as error:
        call_command("notifications", "replay", "999999")

    assert str(error.value) == "Delivery 999999 is not in the dead-letter list."


def test_deadlines_check_rejects_huge_interval():
    with pytest.raises(CommandError, match="--every must be at most 86400 seconds"):
        call_command("deadlines", "check", "--every", str(10**20))


def test_webhook_url_with_space_names_encoding(api_client, demo, english_pages):
    answer = api_client.login("admin").post(
        "/api/v1/notifications/webhooks",
        {"name": "crm", "url": "http://127.0.0.1/a b"},
    )

    assert answer.status_code == 422
    assert answer.json()["message"] == (
        "url contains spaces or control characters; percent-encode them, "
        "e.g. %20 for a space."
    )


@pytest.mark.parametrize(
    ("username", "path"),
    [
        ("citizen", "/api/v1/notifications/read"),
        ("admin", "/api/v1/notifications/dead-letters/replay"),
    ],
)
def test_too_many_ids_rejected(api_client, demo, english_pages, username, path):
    answer = api_client.login(username).post(path, {"ids": list(range(1, 1002))})

    assert answer.status_code == 422, answer.content
    assert answer.json()["field"] == "ids"
    assert answer.json()["message"] == (
        "ids lists 1001 ids; the maximum is 1000, so send them in parts."
    )


def test_webhook_events_stored_once(api_client, demo):
    answer = api_client.login("admin").post(
        "/api/v1/notifications/webhooks",
        {
            "name": "crm",
            "url": "http://127.0.0.1/x",
            "events": ["status_changed", "protocol_signed", "status_changed"],
        },
    )

    assert answer.status_code == 201, answer.content
    assert answer.json()["events"] == ["status_changed", "protocol_signed"]
    assert Webhook.objects.get().events == ["status_changed", "protocol_signed"]
