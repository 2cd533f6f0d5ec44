"""Damaged, incomplete or foreign backups are rejected before anything is written."""

import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db(databases=[])


def copy_without(source: Path, target: Path, skipped: str) -> None:
    """Write a copy of the backup archive without the member `skipped`."""
    with tarfile.open(source) as old, tarfile.open(target, "w") as new:
        for info in old.getmembers():
            if info.name != skipped:
                new.addfile(info, old.extractfile(info))


def flip_byte(source: Path, target: Path, member: str, offset: int) -> None:
    """Write a copy of the backup with one byte of `member`'s data inverted."""
    with tarfile.open(source) as archive:
        position = archive.getmember(member).offset_data + offset
    data = bytearray(source.read_bytes())
    data[position] ^= 0xFF
    target.write_bytes(bytes(data))


def database_member(path: Path) -> str:
    with tarfile.open(path) as archive:
        return next(
            name for name in archive.getnames() if name.startswith("members/database")
        )


def attachment_member(path: Path) -> str:
    with tarfile.open(path) as archive:
        return next(
            name
            for name in archive.getnames()
            if name.startswith("members/files/attachments/")
        )


def assert_rejected(target, result, *fragments: str) -> None:
    assert result.returncode != 0
    assert "nothing was restored" in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr
    assert target.tables() == []
    assert target.data_files() == {}


@pytest.fixture
def target(source, installations):
    """An empty installation with the source's keys."""
    return installations.new("target", keys_from=source)


def test_flipped_database_byte_rejected(backup_file, target, tmp_path):
    member = database_member(backup_file)
    damaged = tmp_path / "damaged.backup"
    flip_byte(backup_file, damaged, member, 5000)

    result = target.protokol("restore", damaged, "-v0", check=False)

    assert_rejected(target, result, member.removeprefix("members/"), "corrupted")


def test_flipped_attachment_byte_rejected(backup_file, target, tmp_path):
    member = attachment_member(backup_file)
    damaged = tmp_path / "damaged.backup"
    flip_byte(backup_file, damaged, member, 20)

    result = target.protokol("restore", damaged, "-v0", check=False)

    assert_rejected(target, result, member.removeprefix("members/"), "corrupted")


def test_flipped_manifest_byte_rejected(backup_file, target, tmp_path):
    damaged = tmp_path / "damaged.backup"
    flip_byte(backup_file, damaged, "manifest.json", 40)

    result = target.protokol("restore", damaged, "-v0", check=False)

    assert_rejected(target, result, "manifest.json", "HMAC")


def test_missing_member_rejected(backup_file, target, tmp_path):
    member = attachment_member(backup_file)
    incomplete = tmp_path / "incomplete.backup"
    copy_without(backup_file, incomplete, member)

    result = target.protokol("restore", incomplete, "-v0", check=False)

    assert_rejected(
        target, result, f"member {member.removeprefix('members/')} is missing"
    )


def test_missing_manifest_rejected(backup_file, target, tmp_path):
    incomplete = tmp_path / "incomplete.backup"
    copy_without(backup_file, incomplete, "manifest.hmac")

    result = target.protokol("restore", incomplete, "-v0", check=False)

    assert_rejected(target, result, "manifest.hmac is missing")


def test_truncated_file_rejected(backup_file, target, tmp_path):
    truncated = tmp_path / "truncated.backup"
    truncated.write_bytes(backup_file.read_bytes()[: backup_file.stat().st_size // 2])

    result = target.protokol("restore", truncated, "-v0", check=False)

    assert_rejected(target, result, "damaged")


def test_other_master_key_rejected(backup_file, target):
    (target.data_dir / "master.key").write_bytes(b"k" * 32)

    result = target.protokol("restore", backup_file, "-v0", check=False)

    assert_rejected(target, result, "Wrong key", "master key id")


def test_wrong_passphrase_rejected(source, target, tmp_path):
    backup = tmp_path / "passphrase.backup"
    source.extra_env["PROTOKOL_BACKUP_PASSPHRASE"] = "correct horse battery staple"
    try:
        source.protokol("backup", backup, "-v0")
    finally:
        del source.extra_env["PROTOKOL_BACKUP_PASSPHRASE"]

    missing = target.protokol("restore", backup, "-v0", check=False)
    target.extra_env["PROTOKOL_BACKUP_PASSPHRASE"] = "correct horse battery stapler"
    wrong = target.protokol("restore", backup, "-v0", check=False)
    target.extra_env["PROTOKOL_BACKUP_PASSPHRASE"] = "correct horse battery staple"
    right = target.protokol("restore", backup, "-v0")

    assert "set PROTOKOL_BACKUP_PASSPHRASE" in missing.stderr
    assert missing.returncode != 0
    assert "Wrong key" in wrong.stderr
    assert "passphrase" in wrong.stderr
    assert wrong.returncode != 0
    assert "All checks passed." in right.stdout


def test_backup_to_existing_file_rejected(source, backup_file):
    size = backup_file.stat().st_size

    result = source.protokol("backup", backup_file, "-v0", check=False)

    assert result.returncode != 0
    assert "exists" in result.stderr
    assert backup_file.stat().st_size == size
