"""Envelope encryption of attachments and personal data with AES-256-GCM.

Each file or personal-data record is encrypted under its own random 256-bit
data key. The data key is stored on its row wrapped (AES-256-GCM encrypted)
under the installation's master key, so rotating the master key re-wraps
48-byte keys and never rewrites a stored file or record. The master key is 32
raw bytes in the file PROTOKOL_MASTER_KEY_FILE; its id is the first 16 hex
digits of its SHA-256.
"""

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from protokol.keyfiles import create_private_file

log = structlog.get_logger(__name__)

KEY_BYTES = 32
NONCE_BYTES = 12
KEY_FILE_NAME = "master.key"
# Associated data that keeps a wrapped data key and a file's ciphertext from
# being accepted in each other's place.
WRAP_AAD = b"protokol attachment data key v1"
CONTENT_AAD = b"protokol attachment content v1"


class MasterKeyMissing(ImproperlyConfigured):
    """The master key file is not configured, does not exist or is malformed."""


class DecryptionFailed(Exception):
    """A wrapped key or a ciphertext failed AES-GCM authentication."""


@dataclass(frozen=True)
class MasterKey:
    """A 256-bit key-encryption key and its id."""

    key: bytes
    key_id: str

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id!r})"


@dataclass(frozen=True)
class Envelope:
    """Per-file values that decryption needs besides the ciphertext and master key.

    `wrapped_key` is the data key encrypted under the master key `key_id`
    with `wrap_nonce`, and `content_nonce` is the nonce of the file's ciphertext.
    """

    key_id: str
    wrapped_key: bytes
    wrap_nonce: bytes
    content_nonce: bytes


def master_key_id(key: bytes) -> str:
    """Return the first 16 hex digits of the key's SHA-256."""
    return hashlib.sha256(key).hexdigest()[:16]


def master_key_path() -> Path:
    """Return the configured key file, or the demo default in the data directory."""
    config = settings.CONFIG
    if config.master_key_file is not None:
        return config.master_key_file.expanduser()
    return config.data_dir / KEY_FILE_NAME


def load_master_key() -> MasterKey:
    """Read the master key; in demo mode generate it (mode 0600) when it is absent."""
    config = settings.CONFIG
    path = master_key_path()
    if config.master_key_file is None and not config.demo:
        raise MasterKeyMissing(
            "PROTOKOL_MASTER_KEY_FILE is not set: point it at a file of 32 random "
            "bytes (e.g. `head -c 32 /dev/urandom > master.key; chmod 600 "
            "master.key`), or set PROTOKOL_DEMO=1 for a demo."
        )
    if not path.exists() and config.master_key_file is None:
        generate_key_file(path)
    return read_key_file(path)


def read_key_file(path: Path) -> MasterKey:
    """Read a master key file of exactly 32 bytes; raise MasterKeyMissing if not."""
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        raise MasterKeyMissing(
            f"Master key file {path} does not exist: create it with 32 random "
            "bytes and mode 0600, or fix PROTOKOL_MASTER_KEY_FILE."
        ) from None
    except OSError as error:
        raise MasterKeyMissing(
            f"Master key file {path} cannot be read: {error.strerror}."
        ) from error
    if len(key) != KEY_BYTES:
        raise MasterKeyMissing(
            f"Master key file {path} contains {len(key)} bytes; it must contain "
            f"exactly {KEY_BYTES} random bytes."
        )
    return MasterKey(key=key, key_id=master_key_id(key))


def generate_key_file(path: Path) -> None:
    """Write 32 random bytes to a new file of mode 0600; keep a file that exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if create_private_file(path, secrets.token_bytes(KEY_BYTES)):
        log.info("master_key_generated", path=str(path))


def encrypt(
    plaintext: bytes, master: MasterKey, *, aad: bytes = CONTENT_AAD
) -> tuple[bytes, Envelope]:
    """Encrypt under a fresh data key; return the ciphertext and its envelope.

    The ciphertext is the plaintext's length plus a 16-byte GCM tag. `aad`
    binds it to its context: decryption needs the same bytes.
    """
    data_key = AESGCM.generate_key(bit_length=256)
    content_nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(content_nonce, plaintext, aad)

    wrap_nonce = os.urandom(NONCE_BYTES)
    wrapped_key = AESGCM(master.key).encrypt(wrap_nonce, data_key, WRAP_AAD)
    envelope = Envelope(
        key_id=master.key_id,
        wrapped_key=wrapped_key,
        wrap_nonce=wrap_nonce,
        content_nonce=content_nonce,
    )
    return ciphertext, envelope


def decrypt(
    ciphertext: bytes,
    envelope: Envelope,
    master: MasterKey,
    *,
    aad: bytes = CONTENT_AAD,
) -> bytes:
    """Return the plaintext; raise DecryptionFailed if the key or data was altered."""
    data_key = unwrap(envelope, master)
    try:
        return AESGCM(data_key).decrypt(envelope.content_nonce, ciphertext, aad)
    except InvalidTag:
        raise DecryptionFailed("ciphertext failed authentication") from None


def unwrap(envelope: Envelope, master: MasterKey) -> bytes:
    """Return the data key; raise DecryptionFailed if the wrapped key was altered."""
    if envelope.key_id != master.key_id:
        raise MasterKeyMissing(
            f"Data key is wrapped under master key {envelope.key_id}, but the "
            f"configured master key is {master.key_id}: set "
            "PROTOKOL_MASTER_KEY_FILE to the key the data was written with."
        )
    try:
        return AESGCM(master.key).decrypt(
            envelope.wrap_nonce, envelope.wrapped_key, WRAP_AAD
        )
    except InvalidTag:
        raise DecryptionFailed("wrapped data key failed authentication") from None


def wrap_new_key(master: MasterKey) -> tuple[bytes, Envelope]:
    """Return a fresh 256-bit key and its envelope under `master`, for keys
    that are used directly, such as the HMAC index key; `content_nonce` is empty.
    """
    key = AESGCM.generate_key(bit_length=256)
    wrap_nonce = os.urandom(NONCE_BYTES)
    envelope = Envelope(
        key_id=master.key_id,
        wrapped_key=AESGCM(master.key).encrypt(wrap_nonce, key, WRAP_AAD),
        wrap_nonce=wrap_nonce,
        content_nonce=b"",
    )
    return key, envelope


def hmac_sha256(key: bytes, message: bytes) -> str:
    """Return the hex HMAC-SHA256 of `message` under `key`."""
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(message)
    return mac.finalize().hex()


def rewrap(envelope: Envelope, old: MasterKey, new: MasterKey) -> Envelope:
    """Return the envelope with its data key wrapped under `new` instead of `old`."""
    data_key = unwrap(envelope, old)
    wrap_nonce = os.urandom(NONCE_BYTES)
    return Envelope(
        key_id=new.key_id,
        wrapped_key=AESGCM(new.key).encrypt(wrap_nonce, data_key, WRAP_AAD),
        wrap_nonce=wrap_nonce,
        content_nonce=envelope.content_nonce,
    )
