"""Sealed copies on disk, keyed by the SHA-256 of everything they render.

Sealing costs about half a second of CPU, so a second request for the same
signed protocol in the same language returns the stored bytes. The key
covers the consultation's presented data, the embedded files, the printed
signature and journal facts, the language, the installation's name and
public URL, the root, seal and TSA certificates, and the source of the
template, stylesheet and rendering code.
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

from django.conf import settings

RENDERER_FILES = (
    "pdf.py",
    "pades.py",
    "services.py",
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


def copy_key(detail: dict, *, language: str, files, signatures, journal_facts) -> str:
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


def _path(key: str) -> Path:
    return cache_dir() / key[:2] / f"{key}.pdf"


def load(key: str) -> bytes | None:
    """Return the cached copy under `key`, or None."""
    try:
        return _path(key).read_bytes()
    except FileNotFoundError:
        return None


def store(key: str, content: bytes) -> None:
    """Store a copy under `key`; a reader sees the whole file or none."""
    path = _path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
