"""Two minutes of 200 concurrent users against uvicorn: no errors.

The smoke version of `bench/load_bench.py --users 200 --sse 20`: citizens
read their consultations and add messages, operators list and reply, and
live-update streams stay open on the queue and a consultation page. The
test prints the request count, p99 latency and server memory; it asserts
only that every request got its expected status. The server uses the
suite's database engine, SQLite or PostgreSQL.
"""

import urllib.parse

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from uvicorn_process import prepare_data_dir, serve

USERS = 200
STREAMS = 20
SECONDS = 120
THINK_SECONDS = 15.0
RAMP_SECONDS = 30.0


@pytest.fixture
def server_env():
    """Yield the server's database settings: the suite's engine, a fresh database.

    On SQLite the server gets its own file under its data directory. On
    PostgreSQL it gets a new database next to the test database.
    """
    if connection.vendor != "postgresql":
        yield {}
        return
    database = settings.DATABASES["default"]
    name = f"{database['NAME']}_load_smoke"
    address = f"{database['USER']}@{database['HOST']}:{database['PORT'] or 5432}"
    admin = f"postgresql://{address}/postgres"
    with psycopg.connect(admin, autocommit=True) as admin_connection:
        admin_connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin_connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {
            "PROTOKOL_DATABASE_URL": f"postgresql://{address}/{name}",
            "PROTOKOL_DATABASE_POOL": "8",
        }
    finally:
        with psycopg.connect(admin, autocommit=True) as admin_connection:
            admin_connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_two_hundred_users_without_errors(load_bench, server_env, tmp_path):
    prepare_data_dir(tmp_path, server_env)

    with serve(tmp_path, server_env) as server:
        port = urllib.parse.urlsplit(server.url).port
        numbers = load_bench.run_users(
            port, USERS, STREAMS, SECONDS, THINK_SECONDS, RAMP_SECONDS
        )

    print(
        f"\nload smoke: {numbers['requests']} requests, "
        f"{numbers['requests_per_s']:.1f}/s, p50 {numbers['p50_ms']:.0f} ms, "
        f"p99 {numbers['p99_ms']:.0f} ms, memory {numbers['memory_mib']:.0f} MiB "
        f"RSS and {numbers['memory_pss_mib']:.0f} MiB PSS, "
        f"slowest stream headers {numbers['stream_headers_max_s']:.2f} s"
    )
    assert numbers["errors"] == [], "\n".join(numbers["errors"][:20])
    assert numbers["requests"] > USERS
