"""Backup, restore into an empty installation, and verify: through the real CLI."""

import dataclasses

import pytest

from .conftest import SIGNED_CONSULTATIONS

pytestmark = pytest.mark.django_db(databases=[])


def test_round_trip_keeps_root_and_signatures(source, backup_file, installations):
    target = installations.new("restored", keys_from=source)

    result = target.protokol("restore", backup_file, "-v0")

    assert "All checks passed." in result.stdout
    # Each signed protocol carries the reviewer's signature and the seal.
    assert f"Signatures checked: {2 * SIGNED_CONSULTATIONS}." in result.stdout
    assert "The backup's signed checkpoint verifies" in result.stdout
    assert target.journal_root() == source.journal_root()
    assert target.data_files() == source.data_files()
    assert len(target.data_files()) >= SIGNED_CONSULTATIONS


def test_restore_into_non_empty_rejected(source, backup_file, installations):
    target = installations.new("migrated", keys_from=source)
    target.protokol("migrate", "-v0")
    tables_before = target.tables()

    result = target.protokol("restore", backup_file, "-v0", check=False)

    assert result.returncode != 0
    assert "is not empty" in result.stderr
    assert "--force" in result.stderr
    assert target.tables() == tables_before
    assert target.data_files() == {}


def test_restore_force_replaces_contents(source, backup_file, installations):
    target = installations.new("forced", keys_from=source)
    target.protokol("migrate", "-v0")

    result = target.protokol("restore", backup_file, "--force", "-v0")

    assert "All checks passed." in result.stdout
    assert target.journal_root() == source.journal_root()


def test_restore_into_source_rejected(source, backup_file):
    root_before = source.journal_root()

    result = source.protokol("restore", backup_file, "-v0", check=False)

    assert result.returncode != 0
    assert "is not empty" in result.stderr
    assert source.journal_root() == root_before


def test_backup_names_bucket_it_leaves_out(source, tmp_path):
    with_bucket = dataclasses.replace(
        source, extra_env={**source.extra_env, "PROTOKOL_S3_BUCKET": "attachments"}
    )

    result = with_bucket.protokol("backup", tmp_path / "s3.backup")

    assert "S3 bucket attachments are not in this backup" in result.stderr


def test_backup_under_file_gives_one_line(source, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")

    result = source.protokol("backup", blocker / "b.backup", "-v0", check=False)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{blocker} is not a directory: choose another PATH." in result.stderr
    assert list(tmp_path.iterdir()) == [blocker]


def test_backup_into_missing_directory_rejected(source, tmp_path):
    missing = tmp_path / "unmounted" / "daily"

    result = source.protokol("backup", missing / "b.backup", "-v0", check=False)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert f"Directory {missing} does not exist" in result.stderr
    assert list(tmp_path.iterdir()) == []
