"""Response times of dashboards, lists and search over a large generated database.

Run against an installation filled by `protokol generate`, for example:

    PROTOKOL_DEMO=1 PROTOKOL_DATA_DIR=/tmp/bench \\
    PROTOKOL_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/protokol_1m \\
    PYTHONPATH=src .venv/bin/python bench/scale_bench.py --runs 20

Each request goes through Django's test client in this process, signed in as
the demo supervisor, the demo admin or the generated citizen with the most
consultations. A first run of every request warms the caches and is not
counted. The requests take turns, so a burst of load on the machine slows
all of them alike. A request stops repeating once its runs together
took `--budget` seconds. Baseline: GET /healthz through the same client.
Prints a Markdown table and writes JSON under bench/results/.

The generator writes rows in random date order, while a live installation
writes them as they are created. So that a month's rows lie together as they
would in production, cluster the tables by creation time before timing:

    CLUSTER consultations_consultation USING consultation_created_id_desc;
    CLUSTER analytics_consultationfacts
        USING analytics_consultationfacts_created_at_a8e26397;
    ANALYZE;

The statistics of long ranges read the daily aggregates, which the analytics
migration fills; after writing rows outside the application, run
`protokol analytics-refresh` before timing.
"""

import argparse
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "protokol.settings")
django.setup()

from django.db import OperationalError, connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from record import write_result  # noqa: E402

from protokol.accounts.models import User  # noqa: E402
from protokol.consultations.models import Consultation  # noqa: E402
from protokol.scale.profile import learn_profile  # noqa: E402
from protokol.search.text import words  # noqa: E402

# A word in about one consultation of six of the packaged sample.
COMMON_WORD = "уборка"
# Goals for p95 over a million consultations, in milliseconds.
GOALS = {"dashboard": 300, "list": 300, "search": 100}


def rare_word() -> str:
    """Return a long word of exactly one template, so it matches few rows."""
    counts = Counter()
    for template in learn_profile().templates:
        counts.update(set(words(f"{template.subject} {template.description}")))
    return min(
        word
        for word, count in counts.items()
        if count == 1 and len(word) > 6 and word.isalpha()
    )


def busiest_citizen() -> User:
    """Return a generated citizen with the most consultations among a sample."""
    latest = Consultation.objects.filter(citizen__is_placeholder=True).order_by(
        "-created_at", "-id"
    )
    owners = Counter(latest.values_list("citizen_id", flat=True)[:5000])
    return User.objects.get(pk=owners.most_common(1)[0][0])


def requests(citizen: User, numbers: list[str]) -> list[tuple[str, str, str]]:
    """Return (kind, user, path) of each timed request."""
    rare = rare_word()
    month = "date_from=2026-11-01"
    year = "date_from=2025-12-01&date_to=2026-11-30"
    number = numbers[0]
    mine = Consultation.objects.filter(citizen=citizen).values_list(
        "number", flat=True
    )[0]
    return [
        ("baseline", "supervisor", "/healthz"),
        ("dashboard", "supervisor", "/analytics/"),
        ("dashboard", "supervisor", "/analytics/?by=period"),
        ("dashboard", "supervisor", f"/analytics/?{year}"),
        ("dashboard", "supervisor", f"/analytics/?{month}"),
        ("dashboard", "supervisor", f"/analytics/?{month}&by=period"),
        ("dashboard", "supervisor", f"/analytics/?{month}&by=period&granularity=week"),
        ("dashboard", "supervisor", f"/analytics/compare/?{month}"),
        ("dashboard", "supervisor", "/analytics/compare/"),
        ("dashboard", "supervisor", f"/analytics/problems/?{month}"),
        ("dashboard", "supervisor", "/analytics/problems/"),
        ("dashboard", "supervisor", f"/analytics/consultations/?{month}"),
        ("dashboard", "admin", f"/api/v1/analytics/statistics?{month}"),
        ("dashboard", "admin", "/api/v1/analytics/statistics"),
        ("dashboard", "admin", f"/api/v1/analytics/statistics?{year}"),
        ("dashboard", "admin", "/api/v1/analytics/statistics?by=period"),
        ("dashboard", "admin", "/api/v1/analytics/comparison"),
        ("dashboard", "admin", f"/api/v1/analytics/consultations?{month}"),
        ("list", "supervisor", "/queue/"),
        ("list", "supervisor", "/api/v1/consultations"),
        ("list", "supervisor", "/api/v1/consultations?status=drafting"),
        ("list", "citizen", "/api/v1/consultations"),
        ("search", "supervisor", f"/api/v1/consultations?q={COMMON_WORD}"),
        ("search", "supervisor", f"/api/v1/consultations?q={rare}"),
        ("search", "supervisor", f"/api/v1/consultations?q={number}"),
        ("search", "supervisor", f"/queue/?q={COMMON_WORD}"),
        ("search", "citizen", f"/api/v1/consultations?q={COMMON_WORD}"),
        ("search", "citizen", f"/api/v1/consultations?q={rare}"),
        ("search", "citizen", f"/api/v1/consultations?q={mine}"),
    ]


def percentile(values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of `values`."""
    ordered = sorted(values)
    return ordered[max(0, round(fraction * len(ordered) + 0.5) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per request")
    parser.add_argument(
        "--budget", type=float, default=60.0, help="seconds per request at most"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="statement timeout in seconds; a request that hits it runs no more",
    )
    parser.add_argument(
        "--kinds",
        default=",".join(GOALS),
        help="comma-separated kinds of request to time (dashboard, list, search); "
        "the baseline always runs",
    )
    args = parser.parse_args()
    kinds = set(args.kinds.split(","))
    if not kinds <= set(GOALS):
        parser.error(f"invalid --kinds {args.kinds!r}; use some of {', '.join(GOALS)}")

    setup_test_environment()
    if connection.vendor == "postgresql":
        # In the connection options, as each request opens a new connection.
        options = connection.settings_dict.setdefault("OPTIONS", {})
        timeout = f"-c statement_timeout={int(args.timeout * 1000)}"
        options["options"] = f"{options.get('options', '')} {timeout}".strip()
        connection.close()
    consultations = Consultation.objects.count()
    citizen = busiest_citizen()
    clients = {}
    for name, user in (
        ("supervisor", User.objects.get(username="supervisor")),
        ("admin", User.objects.get(username="admin")),
        ("citizen", citizen),
    ):
        clients[name] = Client()
        clients[name].force_login(user)
    sample = list(
        Consultation.objects.order_by("-id").values_list("number", flat=True)[:1000]
    )
    plan = [
        (kind, user, path)
        for kind, user, path in requests(citizen, random.Random(1).sample(sample, 1))
        if kind == "baseline" or kind in kinds
    ]

    times: dict[int, list[float]] = {index: [] for index in range(len(plan))}
    timed_out: set[int] = set()
    spent = Counter()
    for run in range(args.runs + 1):
        for index, (_, user, path) in enumerate(plan):
            if spent[index] > args.budget or (run == 0 and index in timed_out):
                continue
            started = time.perf_counter()
            try:
                response = clients[user].get(path)
            except OperationalError:
                # The statement timeout: the time counts as the timeout.
                timed_out.add(index)
                spent[index] = float("inf")
                continue
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise SystemExit(f"{user} {path}: HTTP {response.status_code}")
            # The first run warms caches and is not counted.
            if run > 0:
                times[index].append(elapsed)
                spent[index] += elapsed

    baseline = percentile(times[0], 0.5)
    rows = []
    print(f"{consultations:,} consultations on {connection.vendor}\n")
    print("| kind | user | request | runs | p50 ms | p95 ms | p95 ÷ healthz p50 |")
    print("|---|---|---|---:|---:|---:|---:|")
    for index, (kind, user, path) in enumerate(plan):
        if index in timed_out or not times[index]:
            rows.append(
                {"kind": kind, "user": user, "path": path, "timed_out_s": args.timeout}
            )
            print(f"| {kind} | {user} | `{path}` | 0 | > {args.timeout:,.0f} s | | |")
            continue
        p50, p95 = percentile(times[index], 0.5), percentile(times[index], 0.95)
        rows.append(
            {
                "kind": kind,
                "user": user,
                "path": path,
                "runs": len(times[index]),
                "p50_ms": round(p50 * 1000, 1),
                "p95_ms": round(p95 * 1000, 1),
                "goal_p95_ms": GOALS.get(kind),
            }
        )
        print(
            f"| {kind} | {user} | `{path}` | {len(times[index])} | {p50 * 1000:,.1f} "
            f"| {p95 * 1000:,.1f} | {p95 / baseline:,.0f} |"
        )
    # The slowest request stands for the run; a timed-out one counts as the
    # timeout.
    slowest = max(
        row.get("p95_ms", args.timeout * 1000)
        for row in rows
        if row["kind"] != "baseline"
    )
    path = write_result(
        f"scale-{connection.vendor}",
        value=slowest,
        value_label="p95 of the slowest page or API request",
        baseline=baseline * 1000,
        baseline_label="p50 of GET /healthz through the same client",
        unit="ms",
        better="lower",
        goal="p95 at most 300 ms for pages and 100 ms for search",
        command="bench/scale_bench.py " + " ".join(sys.argv[1:]),
        details={
            "database": connection.vendor,
            "consultations": consultations,
            "requests": rows,
        },
    )
    print(f"\nJSON: {path}")


if __name__ == "__main__":
    main()
