"""Sealed copies on disk, keyed by the SHA-256 of everything they render.

Rendering and sealing a copy of 10 messages costs about 0.3 s of CPU, and
more for longer ones (docs/benchmarks.md), so a second request for the same
signed protocol in the same language returns the stored bytes. The key
covers the consultation's presented data, the embedded files, the printed
signature and journal facts, the language, the installation's name and
public URL, the root, seal and TSA certificates, and the source of the
template, stylesheet and rendering code, and which variant of the collected
data the copy prints (masked or full) with the digest of their ciphertext,
never the values.
A full copy contains personal data, which Protokol stores only encrypted, so
its entry is encrypted under the master key as attachments are.
It leaves out the issue time, so a cached copy keeps the "issued at" time
of its first rendering.

Eviction: each entry belongs to a slot, one per consultation, language and
variant, and storing a copy under a new key deletes the slot's previous
entry, because a changed consultation or a new journal checkpoint changes
the key. `prune` deletes entries unused for PROTOKOL_COPY_CACHE_MAX_AGE_SECONDS
and then the least recently used ones above PROTOKOL_COPY_CACHE_MAX_BYTES.
A process that stores a copy runs it at most once per PRUNE_INTERVAL_SECONDS,
and `protokol copy_cache prune` runs it at once. Deleting the directory is
always safe.
"""

import dataclasses
import hashlib
import json
import os
import tempfile
import time
from functools import cache
from pathlib import Path

import structlog
from django.conf import settings
from django.utils import translation

log = structlog.get_logger(__name__)

# Associated data of an encrypted entry; the key binds it to its file name.
ENCRYPTED_AAD = b"protokol copy cache v1\x00"

RENDERER_FILES = (
    "pdf.py",
    "pades.py",
    "services.py",
    "collected.py",
    "templates/documents/protocol.html",
    "templates/documents/protocol.css",
)


# Seconds between two automatic prune runs, marked by the PRUNE_MARKER file.
PRUNE_INTERVAL_SECONDS = 3600
PRUNE_MARKER = ".pruned"
SLOTS_DIR = "slots"
# A temporary file this old is left over from a process that died mid-write.
STALE_TEMPORARY_SECONDS = 3600


def cache_dir() -> Path:
    """Return the directory of cached copies under PROTOKOL_DATA_DIR."""
    return Path(settings.CONFIG.data_dir) / "copies"


@cache
def renderer_digest() -> str:
    """Return the SHA-256 of the rendering code and templates of this release."""
    digest = hashlib.sha256()
    base = Path(__file__).resolve().parent
    for name in RENDERER_FILES:
        digest.update(name.encode() + b"\0" + (base / name).read_bytes())
    return digest.hexdigest()


# Entries of the presented consultation that depend on the requester and that
# the copy does not print, so requesters of every role share one entry.
REQUESTER_ENTRIES = ("allowed_actions",)


def copy_key(
    detail: dict, *, language: str, files, signatures, journal_facts, collected=None
) -> str:
    """Return the cache key of a sealed copy: the SHA-256 of its rendered inputs."""
    printed = {
        name: value for name, value in detail.items() if name not in REQUESTER_ENTRIES
    }
    inputs = {
        "renderer": renderer_digest(),
        "language": language,
        "organisation": settings.CONFIG.organisation_name,
        "public_url": settings.CONFIG.public_url,
        "detail": printed,
        "files": [
            {
                "name": item.name,
                "sha256": hashlib.sha256(item.content).hexdigest(),
                "description": item.description,
                "media_type": item.media_type,
                "relationship": item.relationship,
            }
            for item in files
        ],
        "signatures": [dataclasses.asdict(item) for item in signatures],
        "journal": dataclasses.asdict(journal_facts) if journal_facts else None,
        "certificates": _certificates_digest(),
        "collected": (
            {
                "variant": collected.variant,
                "required": collected.required,
                "fields": sorted(collected.values),
                "record": collected.record_digest,
            }
            if collected
            else None
        ),
    }
    # The presented data hold lazy translations, such as status labels, which
    # the copy prints in its own language whatever the requester's is.
    with translation.override(language):
        encoded = json.dumps(inputs, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def _certificates_digest() -> str:
    """Return the SHA-256 of the root, seal and TSA certificates that sign copies."""
    from protokol.signing import pki

    digest = hashlib.sha256()
    for stem in ("root", "seal", "tsa"):
        digest.update((pki.pki_dir() / f"{stem}.pem").read_bytes())
    return digest.hexdigest()


def _path(key: str, encrypted: bool, directory: Path | None) -> Path:
    suffix = ".pdf.enc" if encrypted else ".pdf"
    return (directory or cache_dir()) / key[:2] / f"{key}{suffix}"


def _aad(key: str) -> bytes:
    return ENCRYPTED_AAD + key.encode()


def load(
    key: str, *, encrypted: bool = False, directory: Path | None = None
) -> bytes | None:
    """Return the copy stored under `key` in `directory` (the cache), or None.

    An encrypted entry that fails to decrypt, for example after the master
    key was replaced, counts as missing, so the copy is rendered again. A
    hit in the cache sets the entry's modification time, which `prune`
    reads as its last use.
    """
    path = _path(key, encrypted, directory)
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        return None
    if directory is None:
        _touch(path)
    if not encrypted:
        return content
    return _decrypt(key, content)


def _decrypt(key: str, content: bytes) -> bytes | None:
    from protokol.consultations import encryption

    master = encryption.load_master_key()
    try:
        header = json.loads(content[: content.index(b"\n")])
        envelope = encryption.Envelope(
            key_id=header["key_id"],
            wrapped_key=bytes.fromhex(header["wrapped_key"]),
            wrap_nonce=bytes.fromhex(header["wrap_nonce"]),
            content_nonce=bytes.fromhex(header["content_nonce"]),
        )
        ciphertext = content[content.index(b"\n") + 1 :]
        return encryption.decrypt(ciphertext, envelope, master, aad=_aad(key))
    except (
        ValueError,
        KeyError,
        encryption.DecryptionFailed,
        encryption.MasterKeyMissing,
    ) as error:
        log.warning("copy_cache_entry_unreadable", key=key, reason=str(error))
        return None


def _encrypt(key: str, content: bytes) -> bytes:
    from protokol.consultations import encryption

    ciphertext, envelope = encryption.encrypt(
        content, encryption.load_master_key(), aad=_aad(key)
    )
    header = {
        "key_id": envelope.key_id,
        "wrapped_key": envelope.wrapped_key.hex(),
        "wrap_nonce": envelope.wrap_nonce.hex(),
        "content_nonce": envelope.content_nonce.hex(),
    }
    return json.dumps(header).encode() + b"\n" + ciphertext


def store(
    key: str,
    content: bytes,
    *,
    encrypted: bool = False,
    directory: Path | None = None,
    slot: str | None = None,
) -> None:
    """Store a copy under `key` in `directory`, by default the cache, atomically.

    `slot` (see `slot_name`) names the consultation, language and variant
    of a cached copy, and the slot's previous entry under another key is
    deleted. Storing in the cache may also run `prune`, at most once per
    PRUNE_INTERVAL_SECONDS.
    """
    if encrypted:
        content = _encrypt(key, content)
    path = _path(key, encrypted, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(path, content)
    if directory is not None:
        return

    if slot is not None:
        _replace_slot_entry(slot, path)
    if _prune_due():
        prune()


def slot_name(consultation_id: int, language: str, variant: str) -> str:
    """Return the slot of a cached copy: its consultation, language and variant."""
    return f"{int(consultation_id)}-{language}-{variant}"


def _write_atomically(path: Path, content: bytes) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _replace_slot_entry(slot: str, path: Path) -> None:
    """Record `path` as the slot's entry and delete the entry it replaces.

    Two processes storing the same slot at once can each keep their entry,
    and `prune` deletes the one that is no longer used.
    """
    slot_path = cache_dir() / SLOTS_DIR / slot
    try:
        previous = slot_path.read_text().strip()
    except FileNotFoundError:
        previous = ""
    if previous == path.name:
        return
    slot_path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(slot_path, path.name.encode())
    if previous and _is_entry_name(previous):
        old = cache_dir() / previous[:2] / previous
        old.unlink(missing_ok=True)
        log.info("copy_cache_entry_replaced", slot=slot, removed=previous)


def _is_entry_name(name: str) -> bool:
    """Return whether `name` is an entry file name, a hex key and a suffix."""
    key, _, suffix = name.partition(".")
    hex_digits = set("0123456789abcdef")
    valid_key = len(key) == 64 and set(key) <= hex_digits
    return valid_key and suffix in ("pdf", "pdf.enc")


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except OSError as error:
        log.warning("copy_cache_touch_failed", path=str(path), error=str(error))


def _prune_due() -> bool:
    """Return whether PRUNE_INTERVAL_SECONDS passed since the last prune."""
    marker = cache_dir() / PRUNE_MARKER
    try:
        age = time.time() - marker.stat().st_mtime
    except FileNotFoundError:
        return True
    return age >= PRUNE_INTERVAL_SECONDS


@dataclasses.dataclass(frozen=True)
class PruneResult:
    """Entry counts and bytes that one prune run deleted and kept."""

    removed: int
    removed_bytes: int
    kept: int
    kept_bytes: int


def prune(
    *,
    max_age_seconds: int | None = None,
    max_bytes: int | None = None,
    now: float | None = None,
    dry_run: bool = False,
) -> PruneResult:
    """Delete cached copies unused for too long, then the oldest above the size.

    The limits default to PROTOKOL_COPY_CACHE_MAX_AGE_SECONDS and
    PROTOKOL_COPY_CACHE_MAX_BYTES, where 0 turns a limit off. An entry's
    last use is its modification time, which `load` sets on each hit. Slot
    records whose entry is gone and temporary files older than
    STALE_TEMPORARY_SECONDS are deleted too. With `dry_run`, nothing is
    deleted and the result lists what would be.
    """
    config = settings.CONFIG
    if max_age_seconds is None:
        max_age_seconds = config.copy_cache_max_age_seconds
    if max_bytes is None:
        max_bytes = config.copy_cache_max_bytes
    now = time.time() if now is None else now
    root = cache_dir()

    entries = []
    for path in root.glob("??/*"):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        if _is_entry_name(path.name):
            entries.append((stat.st_mtime, stat.st_size, path))
            continue
        stale = now - stat.st_mtime > STALE_TEMPORARY_SECONDS
        if path.suffix == ".tmp" and stale and not dry_run:
            path.unlink(missing_ok=True)

    # Least recently used first.
    entries.sort(key=lambda entry: entry[0])
    total = sum(size for _, size, _ in entries)
    removed, removed_bytes = [], 0
    for used, size, path in entries:
        too_old = max_age_seconds > 0 and now - used > max_age_seconds
        too_big = max_bytes > 0 and total > max_bytes
        if not (too_old or too_big):
            continue
        removed.append(path)
        removed_bytes += size
        total -= size

    if not dry_run:
        for path in removed:
            path.unlink(missing_ok=True)
        _remove_orphan_slots(root)
        root.mkdir(parents=True, exist_ok=True)
        (root / PRUNE_MARKER).touch()

    result = PruneResult(
        removed=len(removed),
        removed_bytes=removed_bytes,
        kept=len(entries) - len(removed),
        kept_bytes=total,
    )
    log.info("copy_cache_pruned", dry_run=dry_run, **dataclasses.asdict(result))
    return result


def _remove_orphan_slots(root: Path) -> None:
    for slot_path in (root / SLOTS_DIR).glob("*"):
        try:
            name = slot_path.read_text().strip()
        except FileNotFoundError:
            continue
        if not _is_entry_name(name) or not (root / name[:2] / name).exists():
            slot_path.unlink(missing_ok=True)


def remove(key: str, *, encrypted: bool = False, directory: Path | None = None) -> None:
    """Delete the copy stored under `key` in `directory`, if there is one."""
    _path(key, encrypted, directory).unlink(missing_ok=True)
