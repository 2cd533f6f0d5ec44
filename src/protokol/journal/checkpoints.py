"""Signed checkpoints: C2SP tlog-checkpoint bodies in C2SP signed-note envelopes.

A checkpoint note reads

    <origin>\\n<tree size>\\n<base64 root hash>\\n
    \\n
    — <key name> <base64(key id || Ed25519 signature of the body)>\\n

where the key id is the first 4 bytes of SHA-256(key name || 0x0A || 0x01 ||
public key), 0x01 being the signed-note algorithm byte for Ed25519. Verifier
keys are written as `<name>+<hex key id>+<base64(0x01 || public key)>`.
"""

import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path

import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy

from protokol.journal import tree
from protokol.journal.models import Checkpoint
from protokol.keyfiles import create_private_file

log = structlog.get_logger(__name__)

ED25519_ALGORITHM = b"\x01"
SIGNATURE_PREFIX = "\u2014 "
KEY_FILE_NAME = "journal_ed25519.pem"


class CheckpointError(Exception):
    """An error whose message is translated when it is shown.

    The message follows the language active at str(): the request's on the
    API and the pages. Commands that print English wrap their work in
    translation.override("en").
    """

    def __init__(self, message, **params):
        super().__init__(message, params)
        self.message = message
        self.params = params

    def __str__(self) -> str:
        text = str(self.message)
        return text % self.params if self.params else text


class SigningKeyMissing(CheckpointError):
    """No checkpoint signing key is configured and none may be generated."""


class NoteInvalid(CheckpointError):
    """A checkpoint note is malformed or its signature does not verify."""


@dataclass(frozen=True)
class VerifierKey:
    """A signed-note Ed25519 verifier key."""

    name: str
    key_id: bytes
    public_key: bytes

    def __str__(self) -> str:
        encoded = base64.b64encode(ED25519_ALGORITHM + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"


@dataclass(frozen=True)
class CheckpointNote:
    """The fields of a checkpoint whose signature has been verified."""

    origin: str
    size: int
    root: bytes
    text: str


def key_id(name: str, public_key: bytes) -> bytes:
    """Return the 4-byte signed-note key id of an Ed25519 public key."""
    digest = hashlib.sha256(name.encode() + b"\n" + ED25519_ALGORITHM + public_key)
    return digest.digest()[:4]


def parse_verifier_key(text: str) -> VerifierKey:
    """Parse `<name>+<hex key id>+<base64(0x01 || key)>`; raise NoteInvalid if bad."""
    try:
        name, hex_id, encoded = text.strip().split("+", 2)
        raw = base64.b64decode(encoded, validate=True)
        identifier = bytes.fromhex(hex_id)
    except (ValueError, binascii.Error) as error:
        # A wrong file can be long: show only its start.
        start = text.strip()[:40] + ("…" if len(text.strip()) > 40 else "")
        raise NoteInvalid(
            gettext_lazy(
                "verifier key '%(start)s' is malformed; give the one line of "
                "journal.pub"
            ),
            start=start,
        ) from error
    if raw[:1] != ED25519_ALGORITHM or len(raw) != 33:
        raise NoteInvalid(
            gettext_lazy("verifier key is not an Ed25519 signed-note key")
        )
    if key_id(name, raw[1:]) != identifier:
        raise NoteInvalid(
            gettext_lazy("verifier key id does not match its name and public key")
        )
    return VerifierKey(name=name, key_id=identifier, public_key=raw[1:])


def key_path() -> Path:
    """Return the configured key file, or the demo default in the data directory."""
    config = settings.CONFIG
    if config.journal_key_file is not None:
        return config.journal_key_file.expanduser()
    return config.data_dir / KEY_FILE_NAME


def load_signing_key() -> Ed25519PrivateKey:
    """Read the signing key; in demo mode generate it (mode 0600) when it is absent."""
    path = key_path()
    if not path.exists():
        if not settings.CONFIG.demo or settings.CONFIG.journal_key_file is not None:
            raise SigningKeyMissing(
                gettext_lazy(
                    "Checkpoint signing key %(path)s does not exist: set "
                    "PROTOKOL_JOURNAL_KEY_FILE to an Ed25519 PKCS#8 PEM file."
                ),
                path=path,
            )
        _generate_key(path)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyMissing(
            gettext_lazy("Checkpoint signing key %(path)s is not an Ed25519 key."),
            path=path,
        )
    return key


def _generate_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    if create_private_file(path, pem):
        log.info("journal_key_generated", path=str(path))


def verifier_key() -> VerifierKey:
    """Return the verifier key of this installation's checkpoints."""
    name = settings.CONFIG.journal_origin
    public = (
        load_signing_key()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return VerifierKey(name=name, key_id=key_id(name, public), public_key=public)


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    """Return the tlog-checkpoint body: origin, size and base64 root, one per line."""
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def sign_note(body: str, key: Ed25519PrivateKey, name: str) -> str:
    """Return `body` as a signed note with one Ed25519 signature line."""
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    signature = key_id(name, public) + key.sign(body.encode())
    encoded = base64.b64encode(signature).decode()
    return f"{body}\n{SIGNATURE_PREFIX}{name} {encoded}\n"


def verify_note(text: str, verifier: VerifierKey) -> CheckpointNote:
    """Check the note's signature by `verifier` and parse its checkpoint body.

    Signature lines by other keys (witness cosignatures) are ignored. Raises
    NoteInvalid when the note is malformed, carries no signature by
    `verifier`, or its origin is not the key's name.
    """
    body, separator, signatures = text.rpartition("\n\n")
    if not separator or not signatures.endswith("\n"):
        raise NoteInvalid(
            gettext_lazy("note has no blank line before its signature lines")
        )
    body += "\n"

    verified = False
    for line in signatures[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteInvalid(
                gettext_lazy("signature line does not start with '—': %(line)s"),
                line=repr(line),
            )
        name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error as error:
            raise NoteInvalid(gettext_lazy("signature is not valid base64")) from error
        if name != verifier.name or raw[:4] != verifier.key_id:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(verifier.public_key).verify(
                raw[4:], body.encode()
            )
        except InvalidSignature as error:
            raise NoteInvalid(
                gettext_lazy("signature by '%(name)s' does not verify"), name=name
            ) from error
        verified = True
    if not verified:
        raise NoteInvalid(
            gettext_lazy("note carries no signature by key '%(name)s'"),
            name=verifier.name,
        )

    checkpoint = parse_body(body, text)
    if checkpoint.origin != verifier.name:
        raise NoteInvalid(
            gettext_lazy(
                "checkpoint origin '%(origin)s' is not the key name '%(name)s'"
            ),
            origin=checkpoint.origin,
            name=verifier.name,
        )
    return checkpoint


def parse_body(body: str, text: str) -> CheckpointNote:
    """Parse the three mandatory lines of a checkpoint body."""
    lines = body.split("\n")
    if len(lines) < 4:
        raise NoteInvalid(
            gettext_lazy("checkpoint body needs origin, size and root lines")
        )
    origin, size_line, root_line = lines[:3]
    if not size_line.isdigit() or (size_line.startswith("0") and size_line != "0"):
        raise NoteInvalid(
            gettext_lazy("checkpoint size %(size)s is not a decimal number"),
            size=repr(size_line),
        )
    try:
        root = base64.b64decode(root_line, validate=True)
    except binascii.Error as error:
        raise NoteInvalid(
            gettext_lazy("checkpoint root is not valid base64")
        ) from error
    if len(root) != 32:
        raise NoteInvalid(
            gettext_lazy("checkpoint root has %(count)d bytes, expected 32"),
            count=len(root),
        )
    return CheckpointNote(origin=origin, size=int(size_line), root=root, text=text)


def issue_checkpoint() -> Checkpoint:
    """Sign and timestamp the current tree head, store it and return it.

    The timestamp is fetched between two short transactions, so a slow TSA
    does not hold the append lock. Should a larger checkpoint be stored
    meanwhile, this one is dropped, so stored sizes only grow.
    """
    origin = settings.CONFIG.journal_origin
    key = load_signing_key()
    with transaction.atomic():
        # The lock record() takes, so the tree does not grow while it is read.
        tree.lock_appends()
        size = tree.tree_size()
        root = tree.root(size)
    note = sign_note(checkpoint_body(origin, size, root), key, origin)
    token = _timestamp(note)

    with transaction.atomic():
        tree.lock_appends()
        latest = latest_checkpoint()
        if latest is not None and latest.size > size:
            return latest
        checkpoint = Checkpoint.objects.create(
            created_at=timezone.now(),
            size=size,
            root_hash=root.hex(),
            origin=origin,
            key_name=origin,
            note=note,
            timestamp_token=token,
        )
    log.info(
        "journal_checkpoint_issued",
        size=size,
        checkpoint_id=checkpoint.pk,
        timestamped=token is not None,
    )
    return checkpoint


def _timestamp(note: str) -> bytes | None:
    """Return an RFC 3161 token over SHA-256 of `note`, or None if the TSA fails."""
    from protokol.signing import pki, tsa, tsa_client

    digest = hashlib.sha256(note.encode()).digest()
    try:
        return tsa_client.fetch_timestamp(digest).dump()
    except (
        pki.PkiNotConfigured,
        tsa.TimestampRejected,
        tsa_client.TsaUnavailable,
        tsa_client.TsaResponseInvalid,
    ) as error:
        # The signed note is valid without it, because the timestamp only
        # dates the note.
        log.warning("journal_checkpoint_not_timestamped", error=str(error))
        return None


def issue_checkpoint_safely() -> None:
    """Issue a checkpoint after a commit; log a failure instead of raising it."""
    try:
        issue_checkpoint()
    except Exception as error:
        # The write that triggered this has committed; it must not fail now.
        with translation.override("en"):
            log.error("journal_checkpoint_failed", error=str(error))


def fresh_checkpoint() -> Checkpoint | None:
    """Return the latest checkpoint, issuing a new one first if it is stale.

    Stale means entries were added since and it is older than
    PROTOKOL_JOURNAL_CHECKPOINT_SECONDS, so a quiet log still gets its recent
    entries covered when a witness or an auditor requests a checkpoint.
    """
    latest = latest_checkpoint()
    seconds = settings.CONFIG.journal_checkpoint_seconds
    grown = tree.tree_size() > (latest.size if latest else 0)
    old = (
        latest is None
        or (timezone.now() - latest.created_at).total_seconds() >= seconds
    )
    if seconds > 0 and grown and old:
        issue_checkpoint_safely()
        latest = latest_checkpoint()
    return latest


def checkpoint_at(size: int) -> Checkpoint | None:
    """Return the latest checkpoint issued at tree size `size`, or None."""
    return Checkpoint.objects.filter(size=size).order_by("-id").first()


def latest_checkpoint() -> Checkpoint | None:
    """Return the most recently issued checkpoint, or None."""
    return Checkpoint.objects.order_by("-id").first()
