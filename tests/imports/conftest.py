import gzip
import json

import pytest

from protokol.imports.services import default_file


@pytest.fixture(scope="session")
def sample_records():
    """The packaged sample, read with the standard library alone."""
    with gzip.open(default_file(), "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]
