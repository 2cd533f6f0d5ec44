"""Two minutes of 200 concurrent users against uvicorn on PostgreSQL: no errors.

The smoke version of `make bench-load`: half citizens, half operators, each
repeating lists, reads, searches and writes, with live-update streams open.
Latency is reported by the benchmark, never asserted here.
"""

import sys
from argparse import Namespace
from pathlib import Path

import pytest
from django.db import connection

BENCH = Path(__file__).resolve().parents[2] / "bench"

pytestmark = pytest.mark.django_db


@pytest.fixture
def load_bench():
    sys.path.insert(0, str(BENCH))
    try:
        import load_bench

        yield load_bench
    finally:
        sys.path.remove(str(BENCH))


def test_two_hundred_users_without_errors(load_bench):
    if connection.vendor != "postgresql":
        pytest.skip("the load smoke test runs in the PostgreSQL suite")
    options = Namespace(users=200, sse=20, seconds=120, workers=2, pool=8)

    numbers = load_bench.closed_loop(options)

    print(
        f"load smoke: {numbers['requests']} requests, "
        f"p99 {numbers['p99_ms']:.0f} ms, memory {numbers['memory_mib']:.0f} MiB"
    )
    assert numbers["errors"] == []
    assert numbers["requests"] > 200
