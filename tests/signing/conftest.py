"""One PKI per test run, because RSA key generation takes about a second a key."""

import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings

from protokol.signing import pki

# The demo reviewer, who signs in the demo flow; a stand-in object, because
# the session-scoped PKI is created before any test database exists.
REVIEWER = SimpleNamespace(pk=0, username="reviewer", display_name="Роман Кузнецов")

# The settings that `pki_dir` replaces for the rest of the run, with the values
# they had before; tests/conftest.py puts them back for tests without it.
REPLACED_SETTINGS: dict[str, object] = {}


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory) -> Path:
    """Initialise a PKI with a reviewer certificate and point the settings at it."""
    directory = tmp_path_factory.mktemp("pki")
    REPLACED_SETTINGS.update(pki_dir=settings.CONFIG.pki_dir, demo=settings.CONFIG.demo)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(settings.CONFIG, "pki_dir", directory)
        patch.setattr(settings.CONFIG, "demo", True)
        pki.init_pki()
        pki.issue_user_certificate(REVIEWER)
        yield directory


@pytest.fixture
def root_pem(pki_dir) -> Path:
    return pki_dir / "root.pem"


def openssl(*args, input: bytes | None = None) -> subprocess.CompletedProcess:
    """Run the openssl binary and return the completed process, never raising."""
    return subprocess.run(
        ["openssl", *map(str, args)], input=input, capture_output=True, check=False
    )
