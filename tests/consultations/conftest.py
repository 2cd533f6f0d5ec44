"""Fixtures of the consultation tests: a master key and committed transactions."""

import secrets

import pytest

from notifications.conftest import _set_triggers


@pytest.fixture
def master_key_file(settings, tmp_path, monkeypatch):
    """A random master key in a private file, set as PROTOKOL_MASTER_KEY_FILE."""
    path = tmp_path / "master.key"
    path.write_bytes(secrets.token_bytes(32))
    path.chmod(0o600)
    monkeypatch.setattr(settings.CONFIG, "master_key_file", path)
    return path


@pytest.fixture
def _triggers_restored(django_db_setup, django_db_blocker):
    # Set up before transactional_db, so torn down after its flush.
    yield
    with django_db_blocker.unblock():
        _set_triggers(installed=True)


@pytest.fixture
def committed_db(_triggers_restored, transactional_db):
    """Real commits, seen by other connections; the journal's triggers are
    dropped before the flush, which they would reject."""
    yield
    _set_triggers(installed=False)
