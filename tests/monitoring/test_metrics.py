"""GET /metrics: access by address or token, and Protokol's own gauges."""

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from protokol.consultations.models import Consultation
from protokol.journal import checkpoints
from protokol.journal.models import JournalEntry

TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture
def metrics_token(settings):
    settings.CONFIG = settings.CONFIG.model_copy(update={"metrics_token": TOKEN})


def gauge(body: str, name: str) -> float:
    for line in body.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} missing from /metrics")


def test_metrics_served_to_loopback(client, consultation):
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    body = response.content.decode()
    assert "django_http_requests_before_middlewares_total" in body
    assert gauge(body, "protokol_journal_entries") == JournalEntry.objects.count()
    assert gauge(body, "protokol_task_queue_depth") >= 0


def test_metrics_rejects_other_address(client, db):
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")

    assert response.status_code == 403
    body = response.json()
    assert body["error"] == "forbidden"
    assert body["field"] is None


def test_metrics_token_admits_other_address(client, db, metrics_token):
    response = client.get(
        "/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION=f"Bearer {TOKEN}"
    )

    assert response.status_code == 200


@pytest.mark.parametrize("scheme", ["bearer", "BEARER"])
def test_metrics_token_scheme_any_case(client, db, metrics_token, scheme):
    response = client.get(
        "/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION=f"{scheme} {TOKEN}"
    )

    assert response.status_code == 200


def test_metrics_token_case_matters(client, db, metrics_token):
    response = client.get(
        "/metrics",
        REMOTE_ADDR="203.0.113.9",
        HTTP_AUTHORIZATION=f"Bearer {TOKEN.upper()}",
    )

    assert response.status_code == 403


def test_metrics_wrong_token_rejected(client, db, metrics_token):
    response = client.get(
        "/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer wrong"
    )

    assert response.status_code == 403


def test_metrics_allowed_network(client, db, settings):
    settings.CONFIG = settings.CONFIG.model_copy(
        update={"metrics_allowed_ips": ["203.0.113.0/24"]}
    )

    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 200
    assert client.get("/metrics").status_code == 403


def test_deadline_breaches_count_open_overdue(client, demo, consultation):
    past = timezone.now() - timedelta(days=1)
    Consultation.objects.filter(pk=consultation.pk).update(deadline=past)

    body = client.get("/metrics").content.decode()

    assert gauge(body, "protokol_deadline_breaches") == 1


def test_deadline_breaches_unlike_overdue_open(client, demo):
    from consultations.factories import act, consultation_in
    from protokol.analytics.facts import refresh_facts
    from protokol.analytics.filters import Filters
    from protokol.analytics.measures import statistics_rows
    from protokol.consultations.models import Status

    # Both count a consultation never answered. Only the gauge counts one
    # whose answer was signed and is redone after a dispute.
    waiting = consultation_in(demo, Status.DRAFTING)
    reopened = consultation_in(demo, Status.DISPUTED)
    act(demo["supervisor"], reopened, "reopen")
    past = timezone.now() - timedelta(days=1)
    Consultation.objects.filter(pk__in=[waiting.pk, reopened.pk]).update(deadline=past)
    refresh_facts([waiting.pk, reopened.pk])

    body = client.get("/metrics").content.decode()
    (row,) = statistics_rows(demo["supervisor"], Filters(), None)

    assert gauge(body, "protokol_deadline_breaches") == 2
    assert row["overdue_open"] == 1


def test_checkpoint_age_and_uncovered_entries(client, consultation):
    checkpoints.issue_checkpoint()
    consultation_entries = JournalEntry.objects.count()

    body = client.get("/metrics").content.decode()

    assert 0 <= gauge(body, "protokol_journal_checkpoint_age_seconds") < 3600
    assert gauge(body, "protokol_journal_entries_after_checkpoint") == 0
    assert gauge(body, "protokol_journal_entries") == consultation_entries


def test_metrics_allowed_ips_setting_rejects_bad_value(monkeypatch):
    from protokol.settings import Config

    monkeypatch.setenv("PROTOKOL_METRICS_ALLOWED_IPS", '["10.0.0.0/8", "proxy"]')

    with pytest.raises(ValueError, match="'proxy' is not an IP address"):
        Config()


def test_json_log_lines_carry_request_id(tmp_path):
    script = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "Client().get('/metrics', REMOTE_ADDR='203.0.113.9',"
        " HTTP_X_REQUEST_ID='req-metrics-42')\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "protokol.settings",
        "PROTOKOL_DEMO": "1",
        "PROTOKOL_DATA_DIR": str(tmp_path),
        "PROTOKOL_DATABASE_URL": "",
        "PROTOKOL_LOG_JSON": "1",
    }

    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, check=True
    )

    events = [json.loads(line) for line in result.stderr.decode().splitlines()]
    denied = [event for event in events if event["event"] == "metrics_denied"]
    assert len(denied) == 1
    assert denied[0]["request_id"] == "req-metrics-42"
    assert denied[0]["level"] == "warning"
    # Django's own record of the 403 is a JSON line too. Django writes it
    # after the middleware returned, so it carries no request id.
    django = [event for event in events if event.get("logger") == "django.request"]
    assert django[0]["event"] == "Forbidden: /metrics"
