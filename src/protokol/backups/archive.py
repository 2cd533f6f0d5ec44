"""The backup file: a tar of AES-256-GCM encrypted members and a MACed manifest.

Layout, in this order:

    header.json     key derivation parameters and a key check value (plaintext)
    members/<name>  each member encrypted in 1 MiB chunks (see below)
    manifest.json   every member's name, sizes and SHA-256 hashes (plaintext)
    manifest.hmac   hex HMAC-SHA256 of header.json and manifest.json

The backup key comes from PROTOKOL_BACKUP_PASSPHRASE through scrypt, or, when
that is empty, from the master key through HKDF-SHA256; a random salt in the
header makes it unique per backup. HKDF derives from it a content key and a
MAC key. A chunk's nonce is the member's random 8-byte prefix and the 4-byte
chunk number. Its associated data names the member, the chunk number and
whether it is the last chunk, so a moved, dropped or truncated chunk fails
authentication.
"""

import base64
import hashlib
import hmac
import io
import json
import os
import secrets
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

FORMAT = "protokol-backup/1"
CHUNK_BYTES = 1024 * 1024
TAG_BYTES = 16
PREFIX_BYTES = 8
SALT_BYTES = 16
HEADER = "header.json"
MANIFEST = "manifest.json"
MANIFEST_MAC = "manifest.hmac"
MEMBER_DIR = "members/"
# scrypt cost: 2^15 × 8 × 128 bytes = 32 MiB of memory per derivation.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
KEY_CHECK_LABEL = b"protokol backup key check v1"


class BackupInvalid(Exception):
    """The backup file is damaged, incomplete, altered or under another key."""


@dataclass(frozen=True)
class BackupKey:
    """How to derive a backup's key: a passphrase, or the master key and its id."""

    mode: str
    secret: bytes
    master_key_id: str = ""

    def __repr__(self) -> str:
        return f"BackupKey(mode={self.mode!r}, master_key_id={self.master_key_id!r})"


@dataclass(frozen=True)
class Keys:
    content: bytes
    mac: bytes

    def check_value(self) -> str:
        return hmac.new(self.mac, KEY_CHECK_LABEL, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Member:
    """One manifest row: the plaintext's size and SHA-256, and the stored ones."""

    name: str
    size: int
    sha256: str
    stored_size: int
    stored_sha256: str


def _hkdf(key: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(key)


def derive_keys(key: BackupKey, header: dict) -> Keys:
    """Derive the content and MAC keys from the configured key and a header."""
    salt = base64.b64decode(header["salt"])
    if header["mode"] == "passphrase":
        kdf = Scrypt(salt=salt, length=32, n=header["n"], r=header["r"], p=header["p"])
        backup_key = kdf.derive(key.secret)
    else:
        backup_key = _hkdf(key.secret, salt, b"protokol backup key v1")
    return Keys(
        content=_hkdf(backup_key, b"", b"protokol backup content v1"),
        mac=_hkdf(backup_key, b"", b"protokol backup manifest mac v1"),
    )


def new_header(key: BackupKey) -> dict:
    """Return the header of a new backup: key mode, fresh salt and KDF costs."""
    header = {
        "format": FORMAT,
        "mode": key.mode,
        "salt": base64.b64encode(secrets.token_bytes(SALT_BYTES)).decode(),
    }
    if key.mode == "passphrase":
        header.update(kdf="scrypt", n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    else:
        header.update(kdf="hkdf-sha256", master_key_id=key.master_key_id)
    return header


def _chunk_count(size: int) -> int:
    return max(1, -(-size // CHUNK_BYTES))


def _stored_size(size: int) -> int:
    return size + TAG_BYTES * _chunk_count(size)


def _nonce(prefix: bytes, number: int) -> bytes:
    return prefix + number.to_bytes(4, "big")


def _aad(name: str, number: int, last: bool) -> bytes:
    return b"%s\0%d\0%d" % (name.encode(), number, int(last))


class _EncryptingReader(io.RawIOBase):
    """A file-like view of a member's ciphertext, encrypted while tarfile reads it."""

    def __init__(self, name: str, source: BinaryIO, size: int, keys: Keys, progress):
        self.name = name
        self.source = source
        self.size = size
        self.chunks = _chunk_count(size)
        self.cipher = AESGCM(keys.content)
        self.prefix = os.urandom(PREFIX_BYTES)
        self.plain_hash = hashlib.sha256()
        self.stored_hash = hashlib.sha256()
        self.number = 0
        self.buffer = self.prefix
        self.progress = progress

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while (size < 0 or len(self.buffer) < size) and self.number < self.chunks:
            self.buffer += self._next_chunk()
        if size < 0:
            size = len(self.buffer)
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        self.stored_hash.update(data)
        return data

    def _next_chunk(self) -> bytes:
        last = self.number == self.chunks - 1
        expected = self.size - self.number * CHUNK_BYTES if last else CHUNK_BYTES
        plain = self.source.read(expected)
        if len(plain) != expected:
            raise BackupInvalid(f"{self.name} changed size while it was read.")

        self.plain_hash.update(plain)
        sealed = self.cipher.encrypt(
            _nonce(self.prefix, self.number), plain, _aad(self.name, self.number, last)
        )
        self.number += 1
        self.progress(len(plain))
        return sealed


class BackupWriter:
    """Write a backup file member by member; `close` adds the manifest and its MAC."""

    def __init__(self, path: Path, key: BackupKey, meta: dict):
        self.header = new_header(key)
        self.keys = derive_keys(key, self.header)
        self.header["key_check"] = self.keys.check_value()
        self.meta = meta
        self.members: list[Member] = []
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self.file = os.fdopen(descriptor, "wb")
        self.tar = tarfile.open(  # noqa: SIM115 - closed by close() or abort()
            fileobj=self.file, mode="w", format=tarfile.PAX_FORMAT
        )
        self._add_bytes(HEADER, _json_bytes(self.header))

    def add_file(self, name: str, path: Path, progress: Callable[[int], None]):
        """Encrypt the file at `path` into the member `name`."""
        size = path.stat().st_size
        with path.open("rb") as source:
            self.add_stream(name, source, size, progress)

    def add_stream(self, name: str, source: BinaryIO, size: int, progress) -> None:
        """Encrypt `size` bytes read from `source` into the member `name`."""
        _check_member_name(name)
        reader = _EncryptingReader(name, source, size, self.keys, progress)
        info = tarfile.TarInfo(MEMBER_DIR + name)
        info.size = PREFIX_BYTES + _stored_size(size)
        info.mode = 0o600
        self.tar.addfile(info, reader)
        self.members.append(
            Member(
                name=name,
                size=size,
                sha256=reader.plain_hash.hexdigest(),
                stored_size=info.size,
                stored_sha256=reader.stored_hash.hexdigest(),
            )
        )

    def close(self) -> None:
        manifest = {
            **self.meta,
            "format": FORMAT,
            "members": [member.__dict__ for member in self.members],
        }
        manifest_bytes = _json_bytes(manifest)
        self._add_bytes(MANIFEST, manifest_bytes)
        self._add_bytes(MANIFEST_MAC, self._mac(manifest_bytes).encode())
        self.tar.close()
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()

    def abort(self) -> None:
        self.tar.close()
        self.file.close()

    def _mac(self, manifest_bytes: bytes) -> str:
        signed = _json_bytes(self.header) + b"\0" + manifest_bytes
        return hmac.new(self.keys.mac, signed, hashlib.sha256).hexdigest()

    def _add_bytes(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o600
        self.tar.addfile(info, io.BytesIO(data))


class BackupReader:
    """Open a backup file, check its key and manifest MAC, and decrypt members.

    The constructor raises BackupInvalid for an unreadable archive, a wrong
    key or an altered manifest. `extract` raises it for a member whose bytes
    do not match the manifest.
    """

    def __init__(self, path: Path, key_for: Callable[[dict], BackupKey]):
        try:
            self.tar = tarfile.open(path, "r:")  # noqa: SIM115 - closed by close()
        except FileNotFoundError:
            raise BackupInvalid(f"Backup file {path} does not exist.") from None
        except (tarfile.TarError, OSError) as error:
            raise BackupInvalid(
                f"Backup file {path} is not readable: {error}."
            ) from None
        try:
            self._check(key_for)
        except BaseException:
            self.tar.close()
            raise

    def _check(self, key_for: Callable[[dict], BackupKey]) -> None:
        try:
            self.entries = {info.name: info for info in self.tar.getmembers()}
        except tarfile.TarError as error:
            raise BackupInvalid(f"Backup archive is damaged: {error}.") from None

        header_bytes = self._read_small(HEADER)
        try:
            self.header = json.loads(header_bytes)
            if self.header.get("format") != FORMAT:
                raise BackupInvalid(
                    f"{HEADER} names format {self.header.get('format')!r}; this "
                    f"version reads {FORMAT}."
                )
            self.keys = derive_keys(key_for(self.header), self.header)
        except (ValueError, KeyError, TypeError) as error:
            raise BackupInvalid(f"{HEADER} is damaged: {error}.") from None
        if not hmac.compare_digest(
            self.keys.check_value(), str(self.header.get("key_check"))
        ):
            raise BackupInvalid(
                "Wrong key: the backup was encrypted under another "
                f"{_key_name(self.header)}, or {HEADER} was altered."
            )

        manifest_bytes = self._read_small(MANIFEST)
        mac = self._read_small(MANIFEST_MAC).decode("ascii", "replace").strip()
        signed = _json_bytes(self.header) + b"\0" + manifest_bytes
        expected = hmac.new(self.keys.mac, signed, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, mac):
            raise BackupInvalid(
                f"{MANIFEST} or {HEADER} was altered: their HMAC does not match "
                f"{MANIFEST_MAC}."
            )
        self.manifest = json.loads(manifest_bytes)
        self.members = [Member(**row) for row in self.manifest["members"]]
        self._check_member_set()

    def _read_small(self, name: str) -> bytes:
        info = self.entries.get(name)
        if info is None or not info.isfile():
            raise BackupInvalid(f"Backup is incomplete: {name} is missing.")
        return self.tar.extractfile(info).read()

    def _check_member_set(self) -> None:
        listed = {MEMBER_DIR + member.name for member in self.members}
        for member in self.members:
            _check_member_name(member.name)
            info = self.entries.get(MEMBER_DIR + member.name)
            if info is None:
                raise BackupInvalid(
                    f"Backup is incomplete: member {member.name} is missing."
                )
            if info.size != member.stored_size:
                raise BackupInvalid(
                    f"Member {member.name} has {info.size} bytes; the manifest "
                    f"lists {member.stored_size}."
                )
        extra = sorted(
            name
            for name in self.entries
            if name.startswith(MEMBER_DIR) and name not in listed
        )
        if extra:
            raise BackupInvalid(f"Member {extra[0]} is not in the manifest.")

    def extract(self, member: Member, target: BinaryIO, progress) -> None:
        """Decrypt `member` into `target`, checking its hashes and every chunk."""
        stored_hash = hashlib.sha256()
        plain_hash = hashlib.sha256()
        source = self.tar.extractfile(self.entries[MEMBER_DIR + member.name])
        prefix = source.read(PREFIX_BYTES)
        stored_hash.update(prefix)
        cipher = AESGCM(self.keys.content)

        chunks = _chunk_count(member.size)
        for number, sealed in enumerate(_read_chunks(source, chunks)):
            stored_hash.update(sealed)
            aad = _aad(member.name, number, number == chunks - 1)
            try:
                plain = cipher.decrypt(_nonce(prefix, number), sealed, aad)
            except InvalidTag:
                raise BackupInvalid(
                    f"Member {member.name} is corrupted: chunk {number} failed "
                    "AES-GCM authentication."
                ) from None
            plain_hash.update(plain)
            target.write(plain)
            progress(len(plain))

        if stored_hash.hexdigest() != member.stored_sha256:
            raise BackupInvalid(
                f"Member {member.name} is corrupted: its SHA-256 does not match "
                "the manifest."
            )
        if plain_hash.hexdigest() != member.sha256:
            raise BackupInvalid(
                f"Member {member.name} decrypts to content whose SHA-256 does "
                "not match the manifest."
            )

    def close(self) -> None:
        self.tar.close()


def _read_chunks(source: BinaryIO, count: int) -> Iterator[bytes]:
    for _ in range(count):
        yield source.read(CHUNK_BYTES + TAG_BYTES)


def _key_name(header: dict) -> str:
    if header.get("mode") == "passphrase":
        return "passphrase (PROTOKOL_BACKUP_PASSPHRASE)"
    return f"master key (id {header.get('master_key_id')})"


def _check_member_name(name: str) -> None:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not name:
        raise BackupInvalid(f"Member name {name!r} is not a relative path.")


def _json_bytes(value: dict) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False).encode()
