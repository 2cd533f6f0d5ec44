"""The new-consultation page: the services and what to expect from each."""

import re
from datetime import timedelta

import pytest
from django.utils import translation

from consultations.factories import consultation_in
from protokol.catalog.models import Service
from protokol.consultations.models import Consultation, Status
from protokol.web import views

PAGE = "/consultations/new/"


def expectation_row(html: str, service_name: str) -> str:
    """Return the text of the expectations table row of one service."""
    table = html[html.index('id="expectations"') :]
    for row in re.findall(r"<tr>(.*?)</tr>", table, re.S):
        if f"<td>{service_name}</td>" in row:
            return " ".join(re.sub(r"<[^>]+>", " ", row).split())
    raise AssertionError(f"no row for {service_name}")


def signed_after(demo, delay: timedelta) -> Consultation:
    """Sign a department A consultation `delay` after its registration."""
    consultation = consultation_in(demo, Status.SIGNED)
    signed_at = consultation.transitions.get(to_status=Status.SIGNED).created_at
    Consultation.objects.filter(pk=consultation.pk).update(created_at=signed_at - delay)
    return consultation


@pytest.mark.parametrize(
    ("delay", "shown"),
    [
        (timedelta(minutes=20), "меньше часа (медиана по 1 ответу за 90 дней)"),
        (timedelta(hours=5, minutes=10), "5 ч (медиана по 1 ответу за 90 дней)"),
        (timedelta(days=4, hours=12), "4,5 дн. (медиана по 1 ответу за 90 дней)"),
    ],
)
def test_median_shown_in_readable_unit(login_as, demo, delay, shown):
    consultation = signed_after(demo, delay)

    html = login_as("citizen").get(PAGE).content.decode()

    row = expectation_row(html, consultation.service.name)
    assert shown in row
    assert "0,0" not in row


@pytest.mark.parametrize(
    ("count", "phrase"),
    [
        (1, "медиана по 1 ответу"),
        (2, "медиана по 2 ответам"),
        (5, "медиана по 5 ответам"),
        (11, "медиана по 11 ответам"),
        (21, "медиана по 21 ответу"),
        (22, "медиана по 22 ответам"),
    ],
)
def test_median_answer_count_russian_plural(login_as, demo, monkeypatch, count, phrase):
    service = Service.objects.get(code="GEN")
    typical = {"median_days": 2.0, "median_seconds": 2 * 86400, "count": count}
    monkeypatch.setattr(
        views.expectations, "typical_days", lambda: {service.pk: typical}
    )

    html = login_as("citizen").get(PAGE).content.decode()

    assert phrase in expectation_row(html, service.name)


@pytest.mark.parametrize(
    ("count", "phrase"),
    [(1, "median of 1 answer in 90 days"), (2, "median of 2 answers in 90 days")],
)
def test_median_answer_count_english(login_as, demo, monkeypatch, count, phrase):
    service = Service.objects.get(code="GEN")
    typical = {"median_days": 0.2, "median_seconds": 5 * 3600, "count": count}
    monkeypatch.setattr(
        views.expectations, "typical_days", lambda: {service.pk: typical}
    )

    response = login_as("citizen").get(PAGE, HTTP_ACCEPT_LANGUAGE="en")

    row = expectation_row(response.content.decode(), service.name_en)
    assert f"5 hours ({phrase})" in row


@pytest.mark.parametrize(
    ("seconds", "russian", "english"),
    [
        (59 * 60, "меньше часа", "less than an hour"),
        (3600, "1 ч", "1 hour"),
        (23 * 3600, "23 ч", "23 hours"),
        (86400, "1,0 дн.", "1.0 days"),
        (10.24 * 86400, "10,2 дн.", "10.2 days"),
    ],
)
def test_typical_time_units(seconds, russian, english):
    with translation.override("ru"):
        assert views.typical_time(seconds) == russian
    with translation.override("en"):
        assert views.typical_time(seconds) == english


def test_english_services_sorted_by_shown_name(login_as, demo):
    response = login_as("citizen").get(PAGE, HTTP_ACCEPT_LANGUAGE="en")

    html = response.content.decode()
    options = re.findall(r'<option value="[^"]+">([^<]+)</option>', html)
    table = html[html.index('id="expectations"') :]
    rows = re.findall(r"<tr>\s*<td>([^<]+)</td>", table)
    active = Service.objects.filter(is_active=True).order_by("name")
    in_russian_order = [service.name_en or service.name for service in active]
    english_names = sorted(in_russian_order, key=str.casefold)
    assert in_russian_order != english_names
    assert options == english_names
    assert rows == english_names
