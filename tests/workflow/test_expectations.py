"""Typical processing time and similar earlier requests, before a new one."""

from datetime import timedelta

from django.utils import timezone

from api.client import login
from consultations.factories import consultation_in, open_consultation
from protokol.consultations.models import Status, Transition
from protokol.workflow.expectations import similar_for, typical_days


def test_typical_days_is_the_median_of_recent_signings(demo):
    signed = [consultation_in(demo, Status.SIGNED) for _ in range(3)]
    now = timezone.now()
    for consultation, days in zip(signed, (2, 4, 30), strict=True):
        type(consultation).objects.filter(pk=consultation.pk).update(
            created_at=now - timedelta(days=days)
        )

    typical = typical_days()[signed[0].service_id]

    assert typical["count"] == 3
    assert typical["median_days"] == 4.0


def test_signings_older_than_90_days_do_not_count(demo):
    consultation = consultation_in(demo, Status.SIGNED)
    Transition.objects.filter(consultation=consultation).update(
        created_at=timezone.now() - timedelta(days=91)
    )

    assert consultation.service_id not in typical_days()


def test_similar_lists_own_open_requests_of_the_service(demo):
    mine = open_consultation(demo["citizen"])
    open_consultation(demo["citizen2"])
    other_service = open_consultation(demo["citizen"], service_code="SOC")

    similar = similar_for(demo["citizen"], mine.service_id)

    assert similar == [mine]
    assert other_service not in similar


def test_api_expectations_for_the_citizen(demo):
    mine = open_consultation(demo["citizen"])

    response = login("citizen").get("/services/GEN/expectations")

    body = response.json()
    assert response.status_code == 200
    assert body["deadline_days"] == 30
    assert body["typical_median_days"] is None
    assert [row["number"] for row in body["similar"]] == [mine.number]


def test_api_expectations_unknown_service(demo):
    response = login("citizen").get("/services/NOPE/expectations")

    assert response.status_code == 404
    assert "NOPE" in response.json()["message"]


def test_new_consultation_page_shows_expectations(client, demo):
    mine = open_consultation(demo["citizen"])
    client.force_login(demo["citizen"])

    response = client.get("/consultations/new/")

    html = response.content.decode()
    assert 'id="expectations"' in html
    assert mine.number in html
