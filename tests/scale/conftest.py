"""A small appeals file cut from the packaged sample, so catalogs import fast."""

import gzip

import pytest

from protokol.imports.services import default_file


@pytest.fixture
def small_source(tmp_path):
    """The first 60 appeals of the packaged sample, as plain JSON Lines."""
    path = tmp_path / "appeals.jsonl"
    with gzip.open(default_file(), "rt", encoding="utf-8") as lines:
        path.write_text("".join(next(lines) for _ in range(60)), encoding="utf-8")
    return path
