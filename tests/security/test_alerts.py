"""One security:alert per window when an actor is denied repeatedly."""

from datetime import timedelta

import pytest
import structlog.testing
from django.conf import settings
from django.utils import timezone

from protokol.consultations import services
from protokol.errors import NotFound
from protokol.journal.models import JournalEntry
from protokol.security import services as security_services
from protokol.security.context import Client, client_var
from protokol.security.services import record_denial


@pytest.fixture
def threshold(monkeypatch):
    monkeypatch.setattr(settings.CONFIG, "security_alert_denials", 3)
    monkeypatch.setattr(settings.CONFIG, "security_alert_window_seconds", 600)
    return 3


@pytest.fixture
def clock(monkeypatch):
    """A clock the test moves; the journal reads it through timezone.now."""
    state = {"now": timezone.now()}
    monkeypatch.setattr(timezone, "now", lambda: state["now"])

    def advance(**delta):
        state["now"] += timedelta(**delta)

    return advance


def alerts() -> list[JournalEntry]:
    return list(JournalEntry.objects.filter(action="security:alert"))


def deny(user, consultation, times: int) -> None:
    for _ in range(times):
        with pytest.raises(NotFound):
            services.read_consultation(user, consultation.pk)


def test_alert_once_per_window(consultation, demo, threshold, monkeypatch):
    logger = structlog.testing.CapturingLogger()
    monkeypatch.setattr(security_services, "log", logger)
    deny(demo["citizen2"], consultation, threshold - 1)
    assert alerts() == []

    deny(demo["citizen2"], consultation, 5)

    (alert,) = alerts()
    assert alert.actor_id is None
    assert alert.object_type == "user"
    assert alert.object_id == str(demo["citizen2"].pk)
    assert alert.after["denials"] == threshold
    assert alert.after["window_seconds"] == 600
    assert alert.consultation_id is None
    warnings = [call.args[0] for call in logger.calls if call.method_name == "warning"]
    assert warnings.count("security_alert") == 1
    assert warnings.count("access_denied") == threshold + 4


def test_new_window_raises_new_alert(consultation, demo, threshold, clock):
    deny(demo["citizen2"], consultation, threshold)
    clock(minutes=11)
    deny(demo["citizen2"], consultation, threshold - 1)
    assert len(alerts()) == 1

    deny(demo["citizen2"], consultation, 1)

    assert len(alerts()) == 2


def test_denials_spread_beyond_window_raise_none(consultation, demo, threshold, clock):
    for _ in range(threshold * 2):
        deny(demo["citizen2"], consultation, 1)
        clock(minutes=6)

    assert alerts() == []


def test_actors_counted_apart(consultation, demo, threshold):
    deny(demo["citizen2"], consultation, threshold - 1)
    deny(demo["operator2"], consultation, threshold - 1)

    assert alerts() == []


def test_alert_by_address_without_user(db, threshold):
    token = client_var.set(Client(ip="127.0.0.9", user_agent="probe"))
    try:
        for index in range(threshold):
            record_denial(None, object_type="consultation", object_id=index, reason="x")
    finally:
        client_var.reset(token)

    (alert,) = alerts()
    assert (alert.object_type, alert.object_id) == ("address", "127.0.0.9")


def test_alerts_off_with_zero(consultation, demo, monkeypatch):
    monkeypatch.setattr(settings.CONFIG, "security_alert_denials", 0)

    deny(demo["citizen2"], consultation, 10)

    assert alerts() == []


def test_api_probing_raises_alert(consultation, demo, threshold, api_client):
    client = api_client.login("citizen2")

    for offset in range(threshold):
        client.get(f"/api/v1/consultations/{consultation.pk + offset}")

    (alert,) = alerts()
    assert alert.object_id == str(demo["citizen2"].pk)
