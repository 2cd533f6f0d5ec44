import gzip
import json

import pytest
from django.db import transaction
from django.test import override_settings

from protokol.imports.services import default_file

FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def sample_records():
    """The packaged sample, read with the standard library alone."""
    with gzip.open(default_file(), "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def imported(django_db_setup, django_db_blocker):
    """Seed the demo, import the whole sample once, and roll both back at the end."""
    from protokol.accounts.demo import seed_demo
    from protokol.imports.services import import_appeals

    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            with override_settings(PASSWORD_HASHERS=FAST_HASHERS):
                seed_demo()
            yield import_appeals()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
