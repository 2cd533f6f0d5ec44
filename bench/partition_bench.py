"""Measure whether monthly partitions speed up the large PostgreSQL tables.

Run against an installation filled by `protokol generate`, for example:

    PROTOKOL_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/protokol_1m \\
    .venv/bin/python bench/partition_bench.py --runs 50

The script copies the messages and the journal entries into a scratch schema
twice: once as plain tables and once partitioned by month of `created_at`,
each with the indexes the application's queries use. It then times the
application's query shapes on both copies, in turns, and prints a Markdown
table with partitioned ÷ plain for each. Baseline: the plain copy. The
installation's own tables are only read, and the scratch schema is dropped
at the end. Writes JSON under bench/results/.
"""

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import write_result  # noqa: E402

SCHEMA = "partition_bench"

# Each table: its source, its partitions as (start, end) bounds of the
# partition key, the indexes the application's queries use, and the query
# shapes to time. `%(id)s` is a random consultation id, `%(month)s` the first
# day of the newest complete month, `%(index)s` a random journal index.
TABLES = {
    "message": {
        "source": "consultations_message",
        "key": "created_at",
        "bounds": (
            "SELECT month, month + interval '1 month' FROM generate_series("
            " (SELECT date_trunc('month', min(created_at)) FROM {source}),"
            " (SELECT date_trunc('month', max(created_at)) FROM {source}),"
            " '1 month') AS month"
        ),
        "indexes": ["(consultation_id, created_at)", "(created_at)"],
        "queries": {
            "dialogue of one consultation": (
                "SELECT id, text FROM {table} WHERE consultation_id = %(id)s"
                " ORDER BY created_at, id"
            ),
            "messages of one month by role": (
                "SELECT author_role, count(*) FROM {table}"
                " WHERE created_at >= %(month)s"
                " AND created_at < %(month)s + interval '1 month'"
                " GROUP BY author_role"
            ),
        },
    },
    # The journal's index grows with time, so ranges of 100,000 indexes are
    # its periods. A generated journal was written within minutes, so its
    # entries would all share one month.
    "journal": {
        "source": "journal_entry",
        "key": "index",
        "bounds": (
            "SELECT start, start + 100000 FROM generate_series("
            " 0, (SELECT max(index) FROM {source}), 100000) AS start"
        ),
        "indexes": ["(index)", "(consultation_id)"],
        "queries": {
            "history of one consultation": (
                "SELECT index, action FROM {table} WHERE consultation_id = %(id)s"
                " ORDER BY index"
            ),
            "entry by index (proofs)": (
                "SELECT leaf_hash FROM {table} WHERE index = %(index)s"
            ),
            "newest entry": "SELECT max(index) FROM {table}",
        },
    },
}


def copy_tables(connection: psycopg.Connection, name: str, spec: dict) -> None:
    """Create the plain and the range partitioned copy of one table."""
    source = spec["source"]
    plain = f"{SCHEMA}.{name}_plain"
    parted = f"{SCHEMA}.{name}_parted"
    connection.execute(f"CREATE TABLE {plain} AS SELECT * FROM {source}")
    connection.execute(
        f"CREATE TABLE {parted} (LIKE {source}) PARTITION BY RANGE ({spec['key']})"
    )

    bounds = connection.execute(spec["bounds"].format(source=source)).fetchall()
    for number, (start, end) in enumerate(bounds):
        # DDL takes no bound parameters, so the bounds are quoted literals.
        connection.execute(
            sql.SQL(
                "CREATE TABLE {part} PARTITION OF {parted}"
                " FOR VALUES FROM ({start}) TO ({end})"
            ).format(
                part=sql.SQL(f"{parted}_{number}"),
                parted=sql.SQL(parted),
                start=sql.Literal(start),
                end=sql.Literal(end),
            )
        )
    connection.execute(f"INSERT INTO {parted} SELECT * FROM {source}")

    for columns in spec["indexes"]:
        connection.execute(f"CREATE INDEX ON {plain} {columns}")
        connection.execute(f"CREATE INDEX ON {parted} {columns}")
    connection.execute(f"VACUUM ANALYZE {plain}")
    connection.execute(f"VACUUM ANALYZE {parted}")
    print(f"{name}: {len(bounds)} partitions", file=sys.stderr)


def parameters(connection: psycopg.Connection) -> dict:
    """Return random query parameters drawn from the installation's rows."""
    low, high = connection.execute(
        "SELECT min(id), max(id) FROM consultations_consultation"
    ).fetchone()
    newest = connection.execute(
        "SELECT date_trunc('month', max(created_at)) - interval '1 month'"
        " FROM consultations_message"
    ).fetchone()[0]
    size = connection.execute("SELECT max(index) FROM journal_entry").fetchone()[0]
    return {
        "id": random.randint(low, high),
        "month": newest,
        "index": random.randint(1, size),
    }


def time_queries(connection: psycopg.Connection, runs: int) -> list[dict]:
    """Time every query shape on both copies in turns and return the rows."""
    samples = {}
    for _ in range(runs + 1):
        values = parameters(connection)
        for name, spec in TABLES.items():
            for label, query in spec["queries"].items():
                for kind in ("plain", "parted"):
                    started = time.perf_counter()
                    connection.execute(
                        query.format(table=f"{SCHEMA}.{name}_{kind}"), values
                    ).fetchall()
                    elapsed = (time.perf_counter() - started) * 1000
                    samples.setdefault((name, label, kind), []).append(elapsed)

    rows = []
    for name, spec in TABLES.items():
        for label in spec["queries"]:
            # The first run of each query warms the caches and is not counted.
            plain = samples[(name, label, "plain")][1:]
            parted = samples[(name, label, "parted")][1:]
            rows.append(
                {
                    "table": name,
                    "query": label,
                    "plain_p50_ms": round(statistics.median(plain), 2),
                    "parted_p50_ms": round(statistics.median(parted), 2),
                    "ratio": round(
                        statistics.median(parted) / statistics.median(plain), 2
                    ),
                }
            )
    return rows


def time_month_removal(connection: psycopg.Connection) -> dict:
    """Time removing the oldest month of messages: DELETE against a partition DROP.

    Both run in a transaction that is rolled back, so the copies stay whole.
    """
    first = connection.execute(
        f"SELECT min(created_at) FROM {SCHEMA}.message_plain"
    ).fetchone()[0]
    timings = {}
    with connection.transaction(force_rollback=True):
        started = time.perf_counter()
        deleted = connection.execute(
            f"DELETE FROM {SCHEMA}.message_plain WHERE created_at"
            " < date_trunc('month', %s::timestamptz) + interval '1 month'",
            (first,),
        ).rowcount
        timings["delete_ms"] = round((time.perf_counter() - started) * 1000, 1)
    with connection.transaction(force_rollback=True):
        started = time.perf_counter()
        connection.execute(f"DROP TABLE {SCHEMA}.message_parted_0")
        timings["drop_partition_ms"] = round((time.perf_counter() - started) * 1000, 1)
    timings["rows"] = deleted
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=50, help="timed runs of each query (default 50)"
    )
    options = parser.parse_args()
    url = os.environ.get("PROTOKOL_DATABASE_URL", "")
    if not url.startswith("postgresql://"):
        sys.exit("PROTOKOL_DATABASE_URL must name a PostgreSQL database.")

    random.seed(1)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        connection.execute(f"CREATE SCHEMA {SCHEMA}")
        try:
            for name, spec in TABLES.items():
                started = time.perf_counter()
                copy_tables(connection, name, spec)
                print(
                    f"{name}: copied in {time.perf_counter() - started:.0f} s",
                    file=sys.stderr,
                )
            rows = time_queries(connection, options.runs)
            removal = time_month_removal(connection)
        finally:
            connection.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")

    print("| table | query | plain p50 ms | partitioned p50 ms | partitioned ÷ plain |")
    print("|---|---|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['table']} | {row['query']} | {row['plain_p50_ms']} |"
            f" {row['parted_p50_ms']} | {row['ratio']} |"
        )
    print(
        f"\nOldest month of messages ({removal['rows']} rows): DELETE"
        f" {removal['delete_ms']} ms, DROP of its partition"
        f" {removal['drop_partition_ms']} ms"
    )
    path = write_result(
        "partition",
        value=sum(row["parted_p50_ms"] for row in rows),
        value_label="p50 of every query shape, summed, on partitioned tables",
        baseline=sum(row["plain_p50_ms"] for row in rows),
        baseline_label="the same on plain tables",
        unit="ms",
        better="lower",
        command=" ".join(sys.argv),
        details={"queries": rows, "month_removal": removal},
    )
    print(f"Results: {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
