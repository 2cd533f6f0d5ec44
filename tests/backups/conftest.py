"""Installations for the backup tests, on the database vendor the suite runs on."""

import pytest

from .installation import Installations

# Signed consultations in the source installation, each with a message and
# an attachment.
SIGNED_CONSULTATIONS = 3


@pytest.fixture(scope="session")
def installations(tmp_path_factory):
    made = Installations(tmp_path_factory.mktemp("installations"))
    yield made
    made.drop_all()


@pytest.fixture(scope="session")
def source(installations):
    """A populated installation with signed consultations and attachments."""
    installation = installations.new("source")
    installation.populate(SIGNED_CONSULTATIONS)
    return installation


@pytest.fixture(scope="session")
def backup_file(source, tmp_path_factory):
    """A backup of `source` under its master key."""
    path = tmp_path_factory.mktemp("backups") / "source.backup"
    source.protokol("backup", path, "-v0")
    return path
