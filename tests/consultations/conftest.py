"""Fixtures of the consultation tests: committed transactions."""

import pytest

from notifications.conftest import _set_triggers


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
