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

NOTE: nothing evicts old entries. A new journal checkpoint changes the
embedded proof and so the key; deleting the directory is always safe.
"""

import dataclasses
import hashlib
import json
import os
import tempfile
from functools import cache
from pathlib import Path

import structlog
from django.conf import settings

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


def copy_key(
    detail: dict, *, language: str, files, signatures, journal_facts, collected=None
) -> str:
    """Return the cache key of a sealed copy: the SHA-256 of its rendered inputs."""
    inputs = {
        "renderer": renderer_digest(),
        "language": language,
        "organisation": settings.CONFIG.organisation_name,
        "public_url": settings.CONFIG.public_url,
        "detail": detail,
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
    key was replaced, counts as missing, so the copy is rendered again.
    """
    try:
        content = _path(key, encrypted, directory).read_bytes()
    except FileNotFoundError:
        return None
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
) -> None:
    """Store a copy under `key` in `directory`, by default the cache, atomically."""
    if encrypted:
        content = _encrypt(key, content)
    path = _path(key, encrypted, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def remove(key: str, *, encrypted: bool = False, directory: Path | None = None) -> None:
    """Delete the copy stored under `key` in `directory`, if there is one."""
    _path(key, encrypted, directory).unlink(missing_ok=True)
