"""Fixtures of the signing tests, whose PKI is `pki_dir` of tests/conftest.py."""

import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

# The demo reviewer, who signs in the demo flow; a stand-in object, because
# the session-scoped PKI is created before any test database exists.
REVIEWER = SimpleNamespace(pk=0, username="reviewer", display_name="Роман Кузнецов")


@pytest.fixture
def root_pem(pki_dir) -> Path:
    return pki_dir / "root.pem"


def openssl(*args, input: bytes | None = None) -> subprocess.CompletedProcess:
    """Run the openssl binary and return the completed process, never raising."""
    return subprocess.run(
        ["openssl", *map(str, args)], input=input, capture_output=True, check=False
    )
