"""Deadlines in the citizen's own time zone and in the department calendar's."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from api.client import login
from consultations.factories import open_consultation
from protokol.accounts.models import Department
from protokol.consultations.models import Consultation
from protokol.journal.models import JournalEntry
from protokol.profiles import services as profiles
from protokol.workflow.deadlines import deadline_rows, display_zone, display_zones
from protokol.workflow.models import DepartmentCalendar

FIVE_DAYS = [["09:00", "18:00"]] * 5 + [None, None]


@pytest.fixture
def vladivostok(demo):
    """Department B works in Vladivostok time (UTC+10)."""
    return DepartmentCalendar.objects.create(
        department=Department.objects.get(code="B"),
        time_zone="Asia/Vladivostok",
        week=FIVE_DAYS,
    )


@pytest.fixture
def passport_request(demo, vladivostok):
    return open_consultation(demo["citizen"], service_code="PAS", subject="Паспорт")


def _answer(rows):
    return next(row for row in rows if row["target"] == "answer")


def test_citizen_default_is_moscow(demo, passport_request):
    row = _answer(deadline_rows(passport_request, viewer=demo["citizen"]))

    assert row["time_zone"] == "Europe/Moscow"
    assert row["due_at"].tzinfo == ZoneInfo("Europe/Moscow")


def test_citizen_sees_own_zone_staff_department_zone(demo, passport_request):
    profiles.set_time_zone(demo["citizen"], "Europe/Kaliningrad")

    citizen = _answer(deadline_rows(passport_request, viewer=demo["citizen"]))
    staff = _answer(deadline_rows(passport_request, viewer=demo["operator2"]))

    assert citizen["time_zone"] == "Europe/Kaliningrad"
    assert staff["time_zone"] == "Asia/Vladivostok"
    # The same moment on two clocks eight hours apart (no DST in either zone).
    assert citizen["due_at"] == staff["due_at"]
    assert citizen["due_at"].utcoffset() == timedelta(hours=2)
    assert staff["due_at"].utcoffset() == timedelta(hours=10)
    assert staff["due_at"].hour != citizen["due_at"].hour


def test_deadlines_api_per_viewer(demo, passport_request):
    login("citizen").put("/profile", {"time_zone": "Asia/Yekaterinburg"})

    citizen = login("citizen").get(f"/consultations/{passport_request.pk}/deadlines")
    staff = login("operator2").get(f"/consultations/{passport_request.pk}/deadlines")

    assert _answer(citizen.json())["time_zone"] == "Asia/Yekaterinburg"
    assert _answer(citizen.json())["due_at"].endswith("+05:00")
    assert _answer(staff.json())["time_zone"] == "Asia/Vladivostok"
    assert _answer(staff.json())["due_at"].endswith("+10:00")


def test_page_shows_local_time_of_viewer(client, demo, passport_request):
    profiles.set_time_zone(demo["citizen"], "Europe/Kaliningrad")
    due = _answer(deadline_rows(passport_request))["due_at"]

    client.force_login(demo["citizen"])
    citizen_page = client.get(f"/consultations/{passport_request.pk}/").content
    client.force_login(demo["operator2"])
    staff_page = client.get(f"/consultations/{passport_request.pk}/").content

    kaliningrad = due.astimezone(ZoneInfo("Europe/Kaliningrad"))
    vladivostok = due.astimezone(ZoneInfo("Asia/Vladivostok"))
    assert kaliningrad.strftime("%d.%m.%Y %H:%M") in citizen_page.decode()
    assert "(Europe/Kaliningrad)" in citizen_page.decode()
    assert vladivostok.strftime("%d.%m.%Y %H:%M") in staff_page.decode()
    assert "(Asia/Vladivostok)" in staff_page.decode()


def test_template_deadline_in_citizen_zone(demo, passport_request):
    from protokol.workflow.answer_templates import consultation_values

    profiles.set_time_zone(demo["citizen"], "Pacific/Kiritimati")
    due = _answer(deadline_rows(passport_request))["due_at"]

    values = consultation_values(passport_request)

    local = due.astimezone(ZoneInfo("Pacific/Kiritimati"))
    assert values["deadline"] == local.strftime("%d.%m.%Y")


def test_profile_time_zone_journaled(demo):
    response = login("citizen").put("/profile", {"time_zone": "Asia/Omsk"})

    assert response.status_code == 200
    assert login("citizen").get("/profile").json() == {"time_zone": "Asia/Omsk"}
    entry = JournalEntry.objects.get(action="profile:update")
    assert entry.before == {"time_zone": "Europe/Moscow"}
    assert entry.after == {"time_zone": "Asia/Omsk"}


@pytest.mark.parametrize("zone", ["Moscow", "Europe/Atlantis", "", "localtime"])
def test_profile_unknown_time_zone_rejected(demo, zone):
    response = login("citizen").put("/profile", {"time_zone": zone})

    assert response.status_code == 422
    body = response.json()
    assert body["field"] == "time_zone"
    assert body["error"] == "validation_failed"
    assert profiles.time_zone_of(demo["citizen"]) == "Europe/Moscow"
    assert not JournalEntry.objects.filter(action="profile:update").exists()


def test_profile_page_saves_zone(client, demo):
    client.force_login(demo["citizen"])

    response = client.post("/profile/", {"time_zone": "Asia/Irkutsk"})
    rejected = client.post("/profile/", {"time_zone": "Nowhere/City"})

    assert response.status_code == 302
    assert profiles.time_zone_of(demo["citizen"]) == "Asia/Irkutsk"
    assert rejected.status_code == 422


def test_answer_due_date_in_citizen_zone(client, demo, passport_request):
    # 23:30 in Moscow is already the next morning in Kiritimati (UTC+14).
    due = datetime(2026, 12, 10, 20, 30, tzinfo=UTC)
    Consultation.objects.filter(pk=passport_request.pk).update(deadline=due)
    profiles.set_time_zone(demo["citizen"], "Pacific/Kiritimati")
    client.force_login(demo["citizen"])

    page = client.get(f"/consultations/{passport_request.pk}/").content.decode()
    listing = client.get("/my/").content.decode()

    local_date = ">11.12.2026</time>"
    assert local_date in page
    assert local_date in listing
    assert ">10.12.2026</time>" not in page
    assert ">10.12.2026</time>" not in listing


def test_staff_queue_dates_match_consultation_page(client, demo, passport_request):
    # 20:30 UTC is 23:30 in Moscow and already the next morning in Vladivostok.
    due = datetime(2026, 12, 10, 20, 30, tzinfo=UTC)
    registered = datetime(2026, 12, 1, 20, 30, tzinfo=UTC)
    Consultation.objects.filter(pk=passport_request.pk).update(
        deadline=due, created_at=registered
    )
    moscow = open_consultation(demo["citizen"], subject="Общий вопрос")
    Consultation.objects.filter(pk=moscow.pk).update(
        deadline=due, created_at=registered
    )
    client.force_login(demo["operator2"])

    queue = client.get("/queue/").content.decode()
    page = client.get(f"/consultations/{passport_request.pk}/").content.decode()
    client.force_login(demo["supervisor"])
    everything = client.get("/queue/").content.decode()

    assert ">11.12.2026</time>" in page
    assert ">11.12.2026</time>" in queue
    assert ">02.12.2026 06:30</time>" in queue
    assert ">10.12.2026</time>" not in queue
    assert ">01.12.2026 23:30</time>" not in queue
    # Department A has no calendar, so its row keeps the default Moscow zone.
    assert ">11.12.2026</time>" in everything
    assert ">10.12.2026</time>" in everything
    assert ">01.12.2026 23:30</time>" in everything


def test_display_zones_one_query_for_staff(
    demo, passport_request, django_assert_num_queries
):
    general = open_consultation(demo["citizen"], subject="Общий вопрос")

    with django_assert_num_queries(1):
        zones = display_zones(demo["supervisor"], [passport_request, general])

    assert zones == {
        passport_request.pk: ZoneInfo("Asia/Vladivostok"),
        general.pk: ZoneInfo("Europe/Moscow"),
    }
    assert zones[general.pk] == display_zone(demo["supervisor"], general)


def test_profile_page_label_without_colon(client, demo):
    client.force_login(demo["citizen"])

    page = client.get("/profile/").content.decode()

    assert ">Часовой пояс</label>" in page
