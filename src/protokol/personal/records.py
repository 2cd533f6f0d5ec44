"""Sealing personal-data records, their HMAC index and re-wrapping their keys.

Key hierarchy: the master key (PROTOKOL_MASTER_KEY_FILE) wraps one random data
key per record and the one index key. The data key encrypts the record's values
as one JSON object. The index key computes HMAC-SHA256 digests of normalised
identifiers. Both keys are stored only wrapped, so a copy of the database
without the master key contains neither values nor a way to test guesses.
"""

import json
from dataclasses import dataclass, field

import structlog
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext

from protokol.consultations import encryption
from protokol.consultations.models import IndexKey
from protokol.errors import IntegrityFailed
from protokol.journal.models import JournalAction
from protokol.personal.validators import KINDS

log = structlog.get_logger(__name__)

INDEX_KEY_NAME = "personal-data-index"
RECORD_AAD = b"protokol personal data v1\x00"
DIGEST_PREFIX = b"protokol personal data index v1\x00"


def record_aad(model: type[models.Model], owner_id: int) -> bytes:
    """Return the associated data that binds a record's ciphertext to its owner.

    A ciphertext copied onto another citizen's or consultation's row then
    fails authentication instead of showing the wrong person's data.
    """
    return RECORD_AAD + f"{model._meta.label_lower}:{owner_id}".encode()


def load_index_key(master: encryption.MasterKey) -> bytes:
    """Return the HMAC index key, creating and wrapping it on first use."""
    row = IndexKey.objects.filter(name=INDEX_KEY_NAME).first()
    if row is None:
        key, envelope = encryption.wrap_new_key(master)
        try:
            with transaction.atomic():
                IndexKey.objects.create(
                    name=INDEX_KEY_NAME,
                    encryption_key_id=envelope.key_id,
                    wrapped_key=envelope.wrapped_key,
                    wrap_nonce=envelope.wrap_nonce,
                    created_at=timezone.now(),
                )
        except IntegrityError:
            # Another process created it first; use that one.
            row = IndexKey.objects.get(name=INDEX_KEY_NAME)
        else:
            log.info("index_key_created", key_id=master.key_id)
            return key
    try:
        return encryption.unwrap(envelope_of(row), master)
    except encryption.DecryptionFailed:
        log.error("index_key_integrity_failed", key_id=row.encryption_key_id)
        raise IntegrityFailed(
            gettext(
                "The personal-data index key failed its integrity check; report "
                "this to the administrator."
            )
        ) from None


def digest(kind: str, normalised: str, index_key: bytes) -> str:
    """Return the hex HMAC-SHA256 of a normalised value of `kind`."""
    message = DIGEST_PREFIX + kind.encode() + b"\x00" + normalised.encode()
    return encryption.hmac_sha256(index_key, message)


def digests(values: dict[str, str], index_key: bytes) -> dict[str, str]:
    """Return the digests of the values whose field is an indexed kind."""
    return {
        name: digest(name, value, index_key)
        for name, value in values.items()
        if name in KINDS and KINDS[name].indexed
    }


def envelope_of(row) -> encryption.Envelope:
    """Return the envelope stored on a record or index key row."""
    # PostgreSQL returns bytea columns as memoryview.
    return encryption.Envelope(
        key_id=row.encryption_key_id,
        wrapped_key=bytes(row.wrapped_key),
        wrap_nonce=bytes(row.wrap_nonce),
        content_nonce=bytes(getattr(row, "content_nonce", b"") or b""),
    )


def seal(record, values: dict[str, str], master: encryption.MasterKey, aad: bytes):
    """Encrypt `values` onto the record's columns under a fresh data key; no save."""
    plaintext = json.dumps(values, ensure_ascii=False, sort_keys=True).encode()
    ciphertext, envelope = encryption.encrypt(plaintext, master, aad=aad)
    record.fields = sorted(values)
    record.ciphertext = ciphertext
    record.encryption_key_id = envelope.key_id
    record.wrapped_key = envelope.wrapped_key
    record.wrap_nonce = envelope.wrap_nonce
    record.content_nonce = envelope.content_nonce
    record.updated_at = timezone.now()


def unseal(record, master: encryption.MasterKey, aad: bytes) -> dict[str, str]:
    """Return the record's values; raise IntegrityFailed (409) if it was altered."""
    try:
        plaintext = encryption.decrypt(
            bytes(record.ciphertext), envelope_of(record), master, aad=aad
        )
    except encryption.DecryptionFailed as error:
        log.error(
            "personal_data_integrity_failed",
            model=record._meta.label_lower,
            record_id=record.pk,
            key_id=record.encryption_key_id,
            reason=str(error),
        )
        raise IntegrityFailed(
            gettext(
                "Stored personal data failed its integrity check, so it is not "
                "shown; report this to the administrator."
            )
        ) from None
    return json.loads(plaintext)


@dataclass
class RewrapBatch:
    """The outcome of one re-wrapping transaction over one model."""

    # Highest primary key examined, where the next batch starts; None when
    # no rows were left.
    last_id: int | None = None
    rewrapped: int = 0
    # Row ids whose key is wrapped under none of the given master keys, or
    # whose wrapped key failed authentication.
    unknown_key: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def rewrap_batch(
    model: type[models.Model],
    after_id: int,
    limit: int,
    old_keys: dict[str, encryption.MasterKey],
    new_key: encryption.MasterKey,
) -> RewrapBatch:
    """Re-wrap up to `limit` keys of `model` rows after `after_id` under `new_key`.

    Runs in one transaction; ciphertexts and digests are not touched, and rows
    already under `new_key` are skipped.
    """
    batch = RewrapBatch()
    with transaction.atomic():
        rows = list(
            model.objects.select_for_update()
            .filter(pk__gt=after_id)
            .exclude(encryption_key_id=new_key.key_id)
            .order_by("pk")[:limit]
        )
        changed = []
        for row in rows:
            batch.last_id = row.pk
            old_key = old_keys.get(row.encryption_key_id)
            if old_key is None:
                batch.unknown_key.append(row.pk)
                continue
            try:
                envelope = encryption.rewrap(envelope_of(row), old_key, new_key)
            except encryption.DecryptionFailed:
                log.error(
                    "key_rewrap_failed", model=model._meta.label_lower, row_id=row.pk
                )
                batch.failed.append(row.pk)
                continue
            row.encryption_key_id = envelope.key_id
            row.wrapped_key = envelope.wrapped_key
            row.wrap_nonce = envelope.wrap_nonce
            changed.append(row)

        model.objects.bulk_update(
            changed, ["encryption_key_id", "wrapped_key", "wrap_nonce"]
        )
    batch.rewrapped = len(changed)
    return batch


def rewrap_needed(model: type[models.Model], new_key: encryption.MasterKey) -> int:
    """Return how many `model` rows are not yet wrapped under `new_key`."""
    return model.objects.exclude(encryption_key_id=new_key.key_id).count()


# Journal actions of personal data. Entries carry field names and ids, never
# values.
PERSONAL_DATA_READ = JournalAction.PERSONAL_DATA_READ
PERSONAL_DATA_UPDATE = JournalAction.PERSONAL_DATA_UPDATE
PERSONAL_DATA_LOOKUP = JournalAction.PERSONAL_DATA_LOOKUP
