"""The admin pages of the workflow configuration: access, validation, journal."""

import pytest

from protokol.accounts.models import Department
from protokol.catalog.models import Service
from protokol.journal.models import JournalEntry
from protokol.journal.services import with_payloads
from protokol.workflow.models import (
    AnswerTemplate,
    DepartmentCalendar,
    RoutingRule,
    ServiceTarget,
)

WEEK = {
    "monday": "09:00-18:00",
    "tuesday": "09:00-18:00",
    "wednesday": "09:00-18:00",
    "thursday": "09:00-18:00",
    "friday": "09:00-17:00",
    "saturday": "",
    "sunday": "",
}


def _form_errors(response):
    """Return the admin form's errors of a response that did not redirect."""
    context = response.context or {}
    form = context.get("adminform")
    return form.form.errors if form else context.get("errors")


@pytest.fixture
def admin_client(client, demo):
    client.force_login(demo["admin"])
    return client


def _calendar_form(**changes):
    return {
        "department": Department.objects.get(code="B").pk,
        "time_zone": "Asia/Vladivostok",
        **WEEK,
        "extra_working_days": "2026-12-27",
        "extra_days_off": "2026-12-31\n2026-12-30",
        **changes,
    }


def _rule_form(**changes):
    return {
        "priority": 10,
        "service": "",
        "district": "",
        "keywords": "паспорт, загранпаспорт",
        "department": Department.objects.get(code="B").pk,
        "is_active": "on",
        **changes,
    }


def test_index_lists_the_configuration(admin_client):
    page = admin_client.get("/admin/").content.decode()

    assert "Правила маршрутизации" in page
    assert "Календари отделов" in page
    assert "Сроки услуг" in page
    assert "Шаблоны ответов" in page


@pytest.mark.parametrize("username", ["operator", "citizen", "auditor"])
def test_other_roles_forbidden(client, demo, username):
    client.force_login(demo[username])

    response = client.get("/admin/workflow/routingrule/", follow=True)

    assert response.status_code == 403


def test_anonymous_sent_to_sign_in(client, demo):
    response = client.get("/admin/workflow/routingrule/", follow=True)

    assert response.redirect_chain[-1][0].startswith("/login")


def test_supervisor_edits_templates_only(client, demo):
    client.force_login(demo["supervisor"])

    assert client.get("/admin/workflow/answertemplate/").status_code == 200
    assert client.get("/admin/workflow/routingrule/").status_code == 403


def test_add_routing_rule_journaled(admin_client, demo):
    response = admin_client.post("/admin/workflow/routingrule/add/", _rule_form())

    assert response.status_code == 302, _form_errors(response)
    rule = RoutingRule.objects.get()
    assert rule.keyword_list() == ["паспорт", "загранпаспорт"]
    entry = JournalEntry.objects.get(action="routing_rule:save")
    assert entry.actor_id == demo["admin"].pk
    assert entry.before is None
    assert entry.after["priority"] == 10


def test_rule_without_condition_shows_error(admin_client, english_pages):
    response = admin_client.post(
        "/admin/workflow/routingrule/add/", _rule_form(keywords="")
    )

    assert response.status_code == 200
    assert "A rule needs a service, a district or keywords" in response.content.decode()
    assert not RoutingRule.objects.exists()
    assert not JournalEntry.objects.filter(action="routing_rule:save").exists()


def test_priority_order_edited_in_list(admin_client):
    department = Department.objects.get(code="B")
    first = RoutingRule.objects.create(
        priority=1, keywords="паспорт", department=department
    )
    second = RoutingRule.objects.create(
        priority=2, keywords="инн", department=department
    )

    response = admin_client.post(
        "/admin/workflow/routingrule/",
        {
            "form-TOTAL_FORMS": "2",
            "form-INITIAL_FORMS": "2",
            "form-0-id": first.pk,
            "form-0-priority": "5",
            "form-0-is_active": "on",
            "form-1-id": second.pk,
            "form-1-priority": "1",
            "form-1-is_active": "on",
            "_save": "Save",
        },
    )

    assert response.status_code == 302, _form_errors(response)
    assert list(RoutingRule.objects.values_list("keywords", flat=True)) == [
        "инн",
        "паспорт",
    ]
    entries = JournalEntry.objects.filter(action="routing_rule:save")
    assert {(e.before["priority"], e.after["priority"]) for e in entries} == {
        (1, 5),
        (2, 1),
    }


def test_delete_rule_journaled(admin_client):
    rule = RoutingRule.objects.create(
        priority=1, keywords="паспорт", department=Department.objects.get(code="B")
    )

    response = admin_client.post(
        f"/admin/workflow/routingrule/{rule.pk}/delete/", {"post": "yes"}
    )

    assert response.status_code == 302
    assert not RoutingRule.objects.exists()
    entry = JournalEntry.objects.get(action="routing_rule:delete")
    assert entry.before["keywords"] == "паспорт"


def test_save_calendar_with_transfers(admin_client):
    response = admin_client.post(
        "/admin/workflow/departmentcalendar/add/", _calendar_form()
    )

    assert response.status_code == 302, _form_errors(response)
    calendar = DepartmentCalendar.objects.get()
    assert calendar.time_zone == "Asia/Vladivostok"
    assert calendar.week[4] == ["09:00", "17:00"]
    assert calendar.week[5] is None
    assert calendar.extra_working_days == ["2026-12-27"]
    assert calendar.extra_days_off == ["2026-12-30", "2026-12-31"]
    [entry] = with_payloads([JournalEntry.objects.get(action="calendar:save")])
    assert entry.object_label == "B"


def test_save_round_the_clock_calendar(admin_client):
    form = _calendar_form(**{day: "00:00-24:00" for day in WEEK})

    response = admin_client.post("/admin/workflow/departmentcalendar/add/", form)

    assert response.status_code == 302, _form_errors(response)
    assert DepartmentCalendar.objects.get().week == [["00:00", "24:00"]] * 7


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tuesday": "18:00-09:00"}, "must end after they start"),
        ({"wednesday": "с утра"}, "write them as 09:00-18:00"),
        ({"thursday": "24:00-24:00"}, "write them as 09:00-18:00"),
        ({"extra_days_off": "31.12.2026"}, "write dates as 2026-05-09"),
        ({"extra_days_off": "2026-12-27"}, "both as a working day and as a day off"),
        (
            {d: "" for d in WEEK},
            "The week has no working day",
        ),
    ],
)
def test_invalid_calendar_shows_error(admin_client, english_pages, changes, message):
    response = admin_client.post(
        "/admin/workflow/departmentcalendar/add/", _calendar_form(**changes)
    )

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not DepartmentCalendar.objects.exists()


def test_unknown_time_zone_shows_error(admin_client):
    response = admin_client.post(
        "/admin/workflow/departmentcalendar/add/",
        _calendar_form(time_zone="Mars/Olympus"),
    )

    assert response.status_code == 200
    assert "Mars/Olympus" in response.content.decode()
    assert not DepartmentCalendar.objects.exists()


def test_service_target_validated_and_journaled(admin_client, english_pages):
    service = Service.objects.get(code="GEN")
    form = {"service": service.pk, "name": "answer", "unit": "working_days"}

    rejected = admin_client.post(
        "/admin/workflow/servicetarget/add/", {**form, "amount": "0"}
    )
    saved = admin_client.post(
        "/admin/workflow/servicetarget/add/", {**form, "amount": "20"}
    )

    assert rejected.status_code == 200
    assert "amount must be a whole number of at least 1" in rejected.content.decode()
    assert saved.status_code == 302
    assert ServiceTarget.objects.get().amount == 20
    [entry] = with_payloads([JournalEntry.objects.get(action="service_target:save")])
    assert entry.object_label == "GEN:answer"


def test_template_with_unknown_variable_shows_its_name(admin_client):
    response = admin_client.post(
        "/admin/workflow/answertemplate/add/",
        {"code": "late", "title": "Опоздание", "body_ru": "Ответ до {due_date}."},
    )

    assert response.status_code == 200
    assert "{due_date}" in response.content.decode()
    assert not AnswerTemplate.objects.filter(code="late").exists()


def test_template_saved_through_service(admin_client):
    response = admin_client.post(
        "/admin/workflow/answertemplate/add/",
        {"code": "late", "title": "Опоздание", "body_ru": "Ответ до {deadline}."},
    )

    assert response.status_code == 302, _form_errors(response)
    assert AnswerTemplate.objects.get(code="late").body_ru == "Ответ до {deadline}."
    [entry] = with_payloads(
        [JournalEntry.objects.filter(action="template:save").last()]
    )
    assert entry.object_label == "late"
