"""Fixtures of the tests that drive a uvicorn subprocess with bench/load_bench.py."""

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def load_bench():
    """Return bench/load_bench.py as a module."""
    sys.path.insert(0, str(BENCH))
    try:
        import load_bench

        yield load_bench
    finally:
        sys.path.remove(str(BENCH))
