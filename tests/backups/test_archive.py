"""The backup container on its own: chunking, key checks and tamper detection."""

import io
import os
import tarfile

import pytest

from protokol.backups.archive import (
    CHUNK_BYTES,
    PREFIX_BYTES,
    TAG_BYTES,
    BackupInvalid,
    BackupKey,
    BackupReader,
    BackupWriter,
)

KEY = BackupKey(mode="master", secret=b"m" * 32, master_key_id="0123456789abcdef")
SIZES = {
    "empty": 0,
    "one-byte": 1,
    "one-chunk": CHUNK_BYTES,
    "chunk-and-byte": CHUNK_BYTES + 1,
    "three-chunks": 2 * CHUNK_BYTES + CHUNK_BYTES // 2,
}


def write_backup(path, contents: dict[str, bytes], key=KEY) -> None:
    writer = BackupWriter(path, key, {"database": "sqlite"})
    for name, data in contents.items():
        writer.add_stream(name, io.BytesIO(data), len(data), lambda _count: None)
    writer.close()


def read_all(path, key=KEY) -> dict[str, bytes]:
    reader = BackupReader(path, lambda header: key)
    try:
        contents = {}
        for member in reader.members:
            target = io.BytesIO()
            reader.extract(member, target, lambda _count: None)
            contents[member.name] = target.getvalue()
        return contents
    finally:
        reader.close()


def rewrite_member(path, name: str, change) -> None:
    """Replace the stored bytes of member `name` with change(stored bytes)."""
    with tarfile.open(path) as archive:
        info = archive.getmember("members/" + name)
        offset = info.offset_data
        size = info.size
    data = bytearray(path.read_bytes())
    data[offset : offset + size] = change(bytes(data[offset : offset + size]))
    path.write_bytes(bytes(data))


def test_round_trip_at_chunk_boundaries(tmp_path):
    contents = {name: os.urandom(size) for name, size in SIZES.items()}
    path = tmp_path / "sizes.backup"

    write_backup(path, contents)

    assert read_all(path) == contents


def test_file_is_private(tmp_path):
    path = tmp_path / "private.backup"

    write_backup(path, {"a": b"x"})

    assert path.stat().st_mode & 0o777 == 0o600


def test_swapped_chunks_rejected(tmp_path):
    path = tmp_path / "swapped.backup"
    write_backup(path, {"big": os.urandom(2 * CHUNK_BYTES)})
    sealed = CHUNK_BYTES + TAG_BYTES

    def swap(stored: bytes) -> bytes:
        prefix, chunks = stored[:PREFIX_BYTES], stored[PREFIX_BYTES:]
        return prefix + chunks[sealed:] + chunks[:sealed]

    rewrite_member(path, "big", swap)

    with pytest.raises(BackupInvalid, match="big is corrupted: chunk 0"):
        read_all(path)


def test_swapped_members_rejected(tmp_path):
    path = tmp_path / "members.backup"
    write_backup(path, {"first": os.urandom(100), "second": os.urandom(100)})
    with tarfile.open(path) as archive:
        second = archive.extractfile("members/second").read()

    rewrite_member(path, "first", lambda _stored: second)

    with pytest.raises(BackupInvalid, match="first is corrupted"):
        read_all(path)


def test_other_key_rejected(tmp_path):
    path = tmp_path / "key.backup"
    write_backup(path, {"a": b"x"})
    other = BackupKey(mode="master", secret=b"o" * 32, master_key_id="0")

    with pytest.raises(BackupInvalid, match="Wrong key"):
        read_all(path, key=other)


def test_unlisted_member_rejected(tmp_path):
    path = tmp_path / "extra.backup"
    write_backup(path, {"a": b"x"})
    with tarfile.open(path, "a") as archive:
        info = tarfile.TarInfo("members/intruder")
        info.size = 3
        archive.addfile(info, io.BytesIO(b"abc"))

    with pytest.raises(BackupInvalid, match="intruder is not in the manifest"):
        read_all(path)


@pytest.mark.parametrize("name", ["../escape", "/absolute", ""])
def test_member_name_outside_rejected(tmp_path, name):
    path = tmp_path / "names.backup"
    writer = BackupWriter(path, KEY, {})

    with pytest.raises(BackupInvalid, match="not a relative path"):
        writer.add_stream(name, io.BytesIO(b"x"), 1, lambda _count: None)
    writer.abort()
