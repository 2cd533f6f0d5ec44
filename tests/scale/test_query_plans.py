"""Query plans of the main pages and API calls on 20,000 generated consultations.

PostgreSQL only, because large installations run on it. Each page and API
call runs through the test client while its queries are captured, and every
SELECT among them is explained after ANALYZE. A sequential scan of
consultations, messages or journal entries fails the test, because at a
million consultations it reads the whole table on every request. Lists count
at most web.paging.COUNT_LIMIT rows, so their counts are checked too.
"""

import json
from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from protokol.accounts.models import Department, Role, User
from protokol.accounts.services import create_user
from protokol.analytics.drilldown import INDEXED_MEASURES
from protokol.consultations.models import Consultation
from protokol.scale.generate import generate
from protokol.scale.profile import learn_profile
from protokol.search import services as search_services
from protokol.search.text import words

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="query plans are checked on PostgreSQL"
)

GENERATED = 20_000
LARGE_TABLES = frozenset(
    {"consultations_consultation", "consultations_message", "journal_entry"}
)


def seq_scans(plan: dict) -> list[str]:
    """Return the large tables that a plan node or its children scan in full."""
    found = []
    if plan.get("Node Type") == "Seq Scan" and plan["Relation Name"] in LARGE_TABLES:
        found.append(plan["Relation Name"])
    for child in plan.get("Plans", []):
        found += seq_scans(child)
    return found


def rare_word(templates) -> str:
    """Return a long word of exactly one template, so it matches few rows."""
    counts = Counter()
    for template in templates:
        counts.update(set(words(f"{template.subject} {template.description}")))
    return min(word for word, count in counts.items() if count == 1 and len(word) > 6)


def common_word(templates) -> str:
    """Return the long word in the most templates, so it matches many rows."""
    counts = Counter()
    for template in templates:
        counts.update(set(words(f"{template.subject} {template.description}")))
    return max((word for word in counts if len(word) > 6), key=counts.__getitem__)


def explain(sql: str, analyze: bool = False) -> dict:
    options = "ANALYZE, FORMAT JSON" if analyze else "FORMAT JSON"
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN ({options}) {sql}")
        document = cursor.fetchone()[0]
    if isinstance(document, str):
        document = json.loads(document)
    return document[0]["Plan"]


@pytest.fixture
def large(demo, small_source, monkeypatch):
    # Search windows keep their share of a million consultations, so that the
    # planner weighs them as it would there.
    for name in ("MAX_RANKED", "FIRST_WINDOW", "MAX_WINDOW"):
        full = getattr(search_services, name)
        monkeypatch.setattr(search_services, name, full * GENERATED // 1_000_000)
    generate(GENERATED, seed=11, batch_size=2000, source=small_source)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    owners = Counter(
        Consultation.objects.filter(citizen__is_placeholder=True).values_list(
            "citizen_id", flat=True
        )
    )
    citizen = User.objects.get(pk=owners.most_common(1)[0][0])
    busiest = Counter(Consultation.objects.values_list("department_id", flat=True))
    department = Department.objects.get(pk=busiest.most_common(1)[0][0])
    operator = create_user(
        "plan-operator", role=Role.OPERATOR, password=None, departments=[department]
    )
    sample = Consultation.objects.filter(department=department).first()
    templates = learn_profile(small_source).templates
    return {
        "citizen": citizen,
        "operator": operator,
        "supervisor": demo["supervisor"],
        "mine": Consultation.objects.filter(citizen=citizen).first(),
        "department": sample,
        "word": rare_word(templates),
        "common": common_word(templates),
    }


def requests(large) -> list[tuple[str, str]]:
    """Return (user, path) of every request whose queries are explained."""
    mine = large["mine"].pk
    theirs = large["department"].pk
    word = large["word"]
    common = large["common"]
    return [
        ("citizen", "/my/"),
        ("citizen", f"/my/?q={word}"),
        ("citizen", f"/consultations/{mine}/"),
        ("citizen", "/api/v1/consultations"),
        ("citizen", f"/api/v1/consultations?q={word}"),
        ("citizen", f"/api/v1/consultations/{mine}"),
        ("operator", "/queue/"),
        ("operator", "/queue/?status=drafting"),
        ("operator", f"/queue/?q={word}"),
        ("operator", f"/consultations/{theirs}/"),
        ("operator", "/api/v1/consultations?status=archived"),
        ("operator", f"/api/v1/consultations?q={word}"),
        ("operator", f"/api/v1/consultations/{theirs}"),
        ("operator", "/api/v1/analytics/statistics?date_from=2026-01-01"),
        ("operator", "/analytics/?date_from=2026-01-01"),
        ("supervisor", "/queue/"),
        ("supervisor", "/api/v1/consultations"),
        ("supervisor", f"/api/v1/consultations?q={common}"),
        ("supervisor", "/analytics/consultations/?date_from=2026-11-01"),
        ("supervisor", f"/queue/?q={word}"),
        ("supervisor", f"/api/v1/consultations?q={word}"),
        ("supervisor", "/api/v1/analytics/consultations?date_from=2026-11-01"),
    ]


def test_main_queries_use_indexes(client, large):
    problems = []
    for username, path in requests(large):
        client.force_login(large[username])
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path)
        assert response.status_code == 200, (username, path, response.status_code)

        for query in captured.captured_queries:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            scanned = seq_scans(explain(sql))
            if scanned:
                problems.append(f"{username} {path}: {scanned} in {sql[:300]}")

    assert problems == [], "\n".join(problems)


def rows_read(plan: dict, table: str) -> int:
    """Return the rows that the plan's nodes on `table` read, kept or filtered."""
    count = 0
    if plan.get("Relation Name") == table:
        rows = plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)
        count += rows * plan.get("Actual Loops", 1)
    for child in plan.get("Plans", []):
        count += rows_read(child, table)
    return count


# About a quarter of the generated consultations are disputed, so only these
# measures are rare there, as disputes are in a real installation.
@pytest.mark.parametrize("measure", ["dispute_concluded", "returned"])
def test_drilldown_of_rare_measure_reads_few_rows(client, large, measure):
    matches = Consultation.objects.filter(INDEXED_MEASURES[measure]).count()
    assert matches < GENERATED // 50

    client.force_login(large["supervisor"])
    path = f"/api/v1/analytics/consultations?measure={measure}"
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200

    read = 0
    for query in captured.captured_queries:
        if "analytics_consultationfacts" in query["sql"]:
            plan = explain(query["sql"], analyze=True)
            read = max(read, rows_read(plan, "consultations_consultation"))
    assert read <= GENERATED // 10, f"{path} read {read} consultations"
