"""The analytics pages: access, filters, charts, drill-down and exports."""

import csv
import html
import io
import re
from datetime import datetime, time

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from page_layout import laid_out
from protokol.analytics import exports
from protokol.consultations import services
from web.test_browser import CHROMIUM

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_departments(demo):
    citizen = demo["citizen"]
    a = services.create_consultation(
        citizen, service_code="GEN", subject="Пособие на ребёнка", description="?"
    )
    b = services.create_consultation(
        citizen, service_code="PAS", subject="Замена паспорта", description="?"
    )
    return a, b


PAGES = [
    "/analytics/",
    "/analytics/compare/",
    "/analytics/problems/",
    "/analytics/consultations/",
    "/analytics/export.csv",
    "/analytics/export.xlsx",
]


@pytest.mark.parametrize("path", PAGES)
def test_citizen_gets_403(client, demo, path):
    client.force_login(demo["citizen"])
    response = client.get(path)

    assert response.status_code == 403


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_goes_to_login(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_overview_renders_charts_and_totals(client, demo, two_departments):
    client.force_login(demo["supervisor"])
    response = client.get("/analytics/?by=department")
    page = response.content.decode()

    assert response.status_code == 200
    assert page.count("<svg") == 2
    assert 'role="img"' in page
    assert "url(#hatch)" in page
    assert "Отдел консультаций по документам" in page
    assert "Отдел консультаций по социальным вопросам" in page


def _table_row(page: str, label: str) -> str:
    match = re.search(rf"<tr>\s*<td>{re.escape(label)}</td>(.*?)</tr>", page, re.S)
    assert match, f"no table row labelled {label!r}"
    return match[1]


@pytest.mark.parametrize(
    "path",
    [
        "/analytics/?by=district",
        "/analytics/?by=operator",
        "/analytics/compare/?by=operator",
    ],
)
def test_group_without_key_has_no_drill_link(client, demo, two_departments, path):
    # The demo consultations have neither a district nor an assignee, so they
    # form the group "—". No filter selects it, and a link without one would
    # list every consultation of the selection.
    client.force_login(demo["supervisor"])
    response = client.get(path)
    row = _table_row(response.content.decode(), "—")

    assert response.status_code == 200
    assert "<a " not in row
    assert ">2<" in row


def test_service_row_links_to_drilldown(client, demo, two_departments):
    client.force_login(demo["supervisor"])
    page = client.get("/analytics/?by=service").content.decode()
    row = html.unescape(_table_row(page, "Оформление паспорта"))

    assert (
        'href="/analytics/consultations/?granularity=month&repeat_days=30&service=PAS"'
        in row
    )
    assert "service=PAS&measure=overdue_open" in row


def test_overview_has_no_citizen_data(client, demo, two_departments):
    client.force_login(demo["supervisor"])
    page = client.get("/analytics/?by=service").content.decode()

    assert "Иванова" not in page
    assert "Пособие на ребёнка" not in page


def test_nav_link_for_supervisor_only(client, demo):
    client.force_login(demo["supervisor"])
    assert "/analytics/" in client.get("/queue/").content.decode()

    client.force_login(demo["operator"])
    assert "/analytics/" not in client.get("/queue/").content.decode()


def test_operator_sees_own_department(client, demo, two_departments):
    client.force_login(demo["operator"])
    page = client.get("/analytics/?by=department").content.decode()

    assert "Отдел консультаций по социальным вопросам" in page
    assert "Отдел консультаций по документам" not in page


def test_drilldown_hides_other_department(client, demo, two_departments):
    a, b = two_departments
    client.force_login(demo["operator"])
    page = client.get("/analytics/consultations/").content.decode()

    assert a.number in page
    assert b.number not in page

    page = client.get("/analytics/consultations/?department=B").content.decode()
    assert b.number not in page


def test_drilldown_shows_subjects_to_staff(client, demo, two_departments):
    a, _ = two_departments
    client.force_login(demo["supervisor"])
    page = client.get("/analytics/consultations/?service=GEN").content.decode()

    assert a.number in page
    assert "Пособие на ребёнка" in page


def test_bad_filter_gives_422_naming_field(client, demo):
    client.force_login(demo["supervisor"])
    response = client.get("/analytics/?date_from=yesterday")

    assert response.status_code == 422
    assert "date_from" in response.content.decode()


@pytest.mark.parametrize(
    "query, field, accepted",
    [("channel=fax", "channel", "portal"), ("granularity=day", "granularity", "week")],
)
def test_bad_choice_shows_one_error(client, demo, query, field, accepted):
    client.force_login(demo["supervisor"])
    response = client.get(f"/analytics/?{query}")

    assert response.status_code == 422
    errors = response.context["form"].errors[field]
    assert len(errors) == 1, errors
    assert accepted in errors[0]


@pytest.mark.parametrize("page", ["", "compare/", "problems/", "consultations/"])
def test_date_beyond_calendar_gives_422(client, demo, page):
    client.force_login(demo["supervisor"])
    response = client.get(f"/analytics/{page}?date_from=0001-01-01")

    assert response.status_code == 422
    assert "date_from" in response.content.decode()


@pytest.mark.parametrize("path", PAGES)
def test_nul_in_district_gives_422(client, demo, path):
    client.force_login(demo["supervisor"])
    response = client.get(f"{path}?district=%00")

    assert response.status_code == 422
    assert "district" in response.content.decode()


def test_bad_measure_gives_422(client, demo):
    client.force_login(demo["supervisor"])
    response = client.get("/analytics/consultations/?measure=nope")

    assert response.status_code == 422


def test_unknown_export_format_gives_422(client, demo):
    client.force_login(demo["supervisor"])
    response = client.get("/analytics/export.pdf")

    assert response.status_code == 422


def test_csv_export_matches_numbers(client, demo, two_departments):
    client.force_login(demo["supervisor"])
    response = client.get("/analytics/export.csv?by=department")
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert rows[0][:3] == ["Код", "Отдел", "Всего"]
    assert {row[0]: row[2] for row in rows[1:]} == {"A": "1", "B": "1"}


def test_csv_export_of_operator_sees_own_department(client, demo, two_departments):
    client.force_login(demo["operator"])
    text = client.get("/analytics/export.csv?by=department").content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))

    assert [row[0] for row in rows[1:]] == ["A"]


def test_xlsx_export_opens(client, demo, two_departments):
    client.force_login(demo["supervisor"])
    response = client.get("/analytics/export.xlsx?table=comparison&by=department")
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))

    assert response.status_code == 200
    assert rows[0][:3] == ("Код", "Отдел", "Всего")
    assert "Индекс обработки с учётом услуг" in rows[0]
    assert sorted(row[0] for row in rows[1:]) == ["A", "B"]


def test_exports_give_periods_as_dates(client, demo, two_departments):
    first = timezone.localdate().replace(day=1)
    client.force_login(demo["supervisor"])
    text = client.get("/analytics/export.csv?by=period").content.decode("utf-8-sig")
    xlsx = client.get("/analytics/export.xlsx?by=period").content

    (csv_row,) = list(csv.reader(io.StringIO(text)))[1:]
    (xlsx_row,) = list(load_workbook(io.BytesIO(xlsx)).active.values)[1:]
    assert csv_row[:2] == [first.isoformat(), first.strftime("%Y-%m")]
    # openpyxl reads a date cell back as a datetime at midnight.
    assert xlsx_row[0] == datetime.combine(first, time.min)
    assert xlsx_row[1] == first.strftime("%Y-%m")


def test_compare_and_problems_render(client, demo, two_departments):
    client.force_login(demo["auditor"])

    assert client.get("/analytics/compare/?by=operator").status_code == 200
    assert client.get("/analytics/problems/").status_code == 200


def test_problems_bad_threshold_gives_422(client, demo):
    client.force_login(demo["supervisor"])
    response = client.get("/analytics/problems/?min_count=2.5")

    assert response.status_code == 422
    assert "min_count" in response.content.decode()


def test_problems_min_count_names_whole_minimum(client, demo, english_pages):
    client.force_login(demo["supervisor"])
    response = client.get("/analytics/problems/?min_count=0")

    assert response.status_code == 422
    page = response.content.decode()
    assert "min_count must be a number of at least 1." in page
    assert "at least 1.0" not in page


def test_problems_page_keeps_thresholds(client, demo):
    client.force_login(demo["supervisor"])
    page = client.get("/analytics/problems/?threshold=2&min_count=3").content.decode()

    assert 'name="threshold" id="id_threshold" value="2"' in page
    assert 'name="min_count" id="id_min_count" value="3"' in page


def test_exports_round_floating_point_noise():
    lines = [["Код", "Услуга", "Обработка"], ["A", "Пособие", 2449989.200000001]]

    text = exports.to_csv(lines).decode("utf-8-sig")

    assert text.splitlines()[1] == "A,Пособие,2449989.2"


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
@pytest.mark.parametrize("language", ["ru", "en"])
def test_compare_table_readable_at_1280(client, demo, two_departments, language):
    client.force_login(demo["supervisor"])
    client.cookies["django_language"] = language
    html = client.get("/analytics/compare/").content.decode()

    with laid_out(html, width=1280) as page:
        table_width = page.eval_on_selector("table.numbers", "t => t.scrollWidth")
        box_width = page.eval_on_selector(".table-scroll", "b => b.clientWidth")
        page.eval_on_selector(".table-scroll", "b => { b.scrollLeft = b.scrollWidth }")
        box_left = page.eval_on_selector(
            ".table-scroll", "b => b.getBoundingClientRect().left"
        )
        label_left = page.eval_on_selector(
            "table.numbers tbody td", "c => c.getBoundingClientRect().left"
        )
        select_height = page.eval_on_selector(".filters select", "s => s.offsetHeight")
        number_height = page.eval_on_selector(
            ".filters input[type=number]", "i => i.offsetHeight"
        )

    # The longest words of the 13 headers alone take about 1,400 pixels in
    # Russian, so the table still scrolls. With headers kept on one line it
    # took about 2,400.
    assert table_width <= 1.3 * box_width
    assert abs(label_left - box_left) <= 1
    assert number_height >= select_height
