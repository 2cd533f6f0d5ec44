"""Storing and serving attachments under generated keys, never the uploader's name.

Stored files are AES-256-GCM ciphertext (see encryption.py). Encryption works on
the whole file at once, so an upload or a download keeps the plaintext and the
ciphertext in memory together: about twice PROTOKOL_MAX_UPLOAD_BYTES (40 MiB at
the 20 MiB default) per request in progress.
"""

import hashlib
import io
import mimetypes
import os
import unicodedata
import uuid
from dataclasses import dataclass, field

import filetype
import structlog
from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, pgettext

from protokol.consultations import encryption, permissions
from protokol.consultations.models import Attachment, Consultation
from protokol.consultations.services import (
    _ensure_not_sealed,
    bump_version,
    get_visible,
    journal_denials,
)
from protokol.errors import (
    IntegrityFailed,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    UnsupportedMediaType,
    ValidationFailed,
)
from protokol.journal import services as journal
from protokol.journal.models import JournalAction
from protokol.security.services import record_denial

log = structlog.get_logger(__name__)

MAX_NAME_LENGTH = 255
GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream"}


def safe_name(name: str) -> str:
    """Return a display name without path parts or control characters, ≤255 chars."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").split("/")[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    name = name.lstrip(".").strip() or "file"

    if len(name) > MAX_NAME_LENGTH:
        stem, ext = os.path.splitext(name)
        ext = ext[:16]
        name = stem[: MAX_NAME_LENGTH - len(ext)] + ext
    return name


# Sniffed types that stand for a declared type: OOXML and ODF files are ZIP
# archives, and filetype names the container when it cannot see the parts.
CONTAINER_TYPES = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": {
        "application/zip"
    },
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
        "application/zip"
    },
    "application/vnd.oasis.opendocument.text": {"application/zip"},
    "application/msword": {"application/x-ole-storage", "application/vnd.ms-excel"},
    "application/vnd.ms-excel": {"application/x-ole-storage", "application/msword"},
}
SNIFF_BYTES = 64 * 1024


def sniff_content_type(upload) -> str | None:
    """Return the media type the file's bytes show, "text/plain" for UTF-8 text."""
    head = upload.read(SNIFF_BYTES)
    upload.seek(0)
    kind = filetype.guess(head)
    if kind is not None:
        return kind.mime
    if b"\x00" in head:
        return None
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut at the end of the sample is still text.
        if error.start < len(head) - 3:
            return None
    return "text/plain"


def check_content_matches(upload, declared: str, *, field: str = "file") -> None:
    """Raise 415 naming `field` unless the file's bytes are of the declared type."""
    sniffed = sniff_content_type(upload)
    if sniffed == declared or sniffed in CONTAINER_TYPES.get(declared, ()):
        return
    raise UnsupportedMediaType(
        gettext(
            "%(field)s is declared as '%(declared)s' but its content is "
            "'%(sniffed)s'; upload a file of an allowed type."
        )
        % {
            "field": field,
            "declared": declared,
            "sniffed": sniffed or pgettext("file content type", "not recognised"),
        },
        field=field,
    )


def resolve_content_type(declared: str | None, name: str) -> str:
    """Return the declared media type, or the one the name suggests if it is generic."""
    media_type = (declared or "").split(";")[0].strip().lower()
    if media_type in GENERIC_TYPES:
        media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return media_type


@dataclass(frozen=True)
class PreparedFile:
    """An upload that passed every check, encrypted and ready to store."""

    name: str
    content_type: str
    size: int
    sha256: str
    ciphertext: bytes
    envelope: encryption.Envelope


def prepare_upload(upload, *, field: str = "file") -> PreparedFile:
    """Check and encrypt an upload; 413 if too large, 415 if not allowed.

    Errors name `field`, so a form with several files points at the one at fault.
    """
    config = settings.CONFIG
    if upload is None:
        raise ValidationFailed(
            gettext("%(field)s is missing; send it as multipart '%(field)s'.")
            % {"field": field},
            field=field,
        )
    if upload.size > config.max_upload_bytes:
        raise PayloadTooLarge(
            gettext("%(field)s is %(size)d bytes; the maximum is %(limit)d.")
            % {"field": field, "size": upload.size, "limit": config.max_upload_bytes},
            field=field,
        )
    if upload.size == 0:
        raise ValidationFailed(
            gettext("%(field)s is empty.") % {"field": field}, field=field
        )
    name = safe_name(upload.name)
    content_type = resolve_content_type(upload.content_type, name)
    if content_type not in config.allowed_upload_types:
        raise UnsupportedMediaType(
            gettext("Files of type '%(type)s' are not accepted; allowed: %(allowed)s.")
            % {
                "type": content_type,
                "allowed": ", ".join(config.allowed_upload_types),
            },
            field=field,
        )
    check_content_matches(upload, content_type, field=field)

    # The key is read before any work, so a missing key stores nothing.
    master_key = encryption.load_master_key()
    upload.seek(0)
    plaintext = upload.read()
    digest = hashlib.sha256(plaintext).hexdigest()
    ciphertext, envelope = encryption.encrypt(plaintext, master_key)
    del plaintext
    return PreparedFile(name, content_type, upload.size, digest, ciphertext, envelope)


@journal_denials
def add_attachment(actor, consultation_id, upload, *, document_id=None) -> Attachment:
    """Store an uploaded file and attach it; 413 if too large, 415 if not allowed.

    With `document_id` the file answers that requested document of the
    checklist, which becomes received.
    """
    from protokol.consultations import data_requests

    prepared = prepare_upload(upload)

    # A denial raised inside the transaction would roll back its journal
    # entry, so visibility is checked once before the transaction starts.
    get_visible(actor, consultation_id)
    with transaction.atomic():
        consultation = get_visible(actor, consultation_id, for_update=True)
        document = None
        if document_id is not None:
            document = data_requests.document_for_upload(
                actor, consultation, document_id
            )
        attachment = store_prepared(actor, consultation, prepared)
        if document is not None:
            data_requests.mark_received(actor, consultation, document, attachment)
        bump_version(consultation)
    return attachment


def store_prepared(actor, consultation, prepared: PreparedFile) -> Attachment:
    """Store a prepared file inside the caller's transaction and journal it.

    The caller holds the consultation's row lock and counts the write.
    """
    _ensure_not_sealed(consultation, pgettext("sealed", "attachments"))
    if not permissions.can_add_attachment(actor, consultation):
        raise PermissionDenied(gettext("You may not attach files here."), field="file")

    key = uuid.uuid4().hex
    saved_key = default_storage.save(
        f"{key[:2]}/{key}", ContentFile(prepared.ciphertext)
    )
    try:
        attachment = Attachment.objects.create(
            consultation=consultation,
            uploaded_by=actor,
            original_name=prepared.name,
            content_type=prepared.content_type,
            size=prepared.size,
            sha256=prepared.sha256,
            storage_key=saved_key,
            created_at=timezone.now(),
            encryption_key_id=prepared.envelope.key_id,
            wrapped_key=prepared.envelope.wrapped_key,
            wrap_nonce=prepared.envelope.wrap_nonce,
            content_nonce=prepared.envelope.content_nonce,
        )
        journal.record(
            JournalAction.ATTACHMENT_CREATE,
            actor=actor,
            object_type="attachment",
            object_id=attachment.pk,
            object_label=consultation.number,
            consultation_id=consultation.pk,
            after={
                "sha256": attachment.sha256,
                "size": attachment.size,
                "content_type": attachment.content_type,
            },
        )
    except Exception:
        # A failed insert or journal entry deletes the file again.
        default_storage.delete(saved_key)
        raise
    # NOTE: a rollback of the caller's transaction after this point leaves
    # the encrypted file without a row. The data request answer stores its
    # files last to keep that window small; a sweep of unreferenced keys
    # would close it.
    return attachment


def open_attachment(actor, consultation_id, attachment_id) -> tuple[Attachment, File]:
    """Return a visible attachment and its plaintext, journaling the download.

    Raises IntegrityFailed (409) when the stored file or its wrapped key was
    altered, before anything is journaled or sent.
    """
    consultation: Consultation = get_visible(actor, consultation_id)
    try:
        attachment = consultation.attachments.get(pk=int(attachment_id))
    except (Attachment.DoesNotExist, ValueError, TypeError):
        owner = Attachment.objects.filter(pk=_int_or_none(attachment_id)).first()
        record_denial(
            actor,
            object_type="attachment",
            object_id=attachment_id,
            reason="not_found" if owner is None else "other_consultation",
            consultation_id=None if owner is None else owner.consultation_id,
        )
        raise NotFound(
            gettext("Attachment not found."), field="attachment_id"
        ) from None
    if not permissions.can_read_attachment(actor, consultation):
        record_denial(
            actor,
            object_type="attachment",
            object_id=attachment.pk,
            reason="not_granted",
            consultation_id=consultation.pk,
        )
        raise PermissionDenied(
            gettext(
                "Citizens' files are personal data; an auditor needs the "
                "%(permission)s permission to download them."
            )
            % {"permission": permissions.ATTACHMENT_GRANT},
            field="attachment_id",
        )

    handle = open_plaintext(attachment)
    journal.record_now(
        JournalAction.ATTACHMENT_READ,
        actor=actor,
        object_type="attachment",
        object_id=attachment.pk,
        object_label=consultation.number,
        consultation_id=consultation.pk,
        after={"sha256": attachment.sha256},
    )
    return attachment, handle


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def envelope_of(attachment: Attachment) -> encryption.Envelope | None:
    """Return the row's encryption envelope, or None for a file stored as plaintext."""
    if attachment.wrapped_key is None:
        return None
    # PostgreSQL returns bytea columns as memoryview.
    return encryption.Envelope(
        key_id=attachment.encryption_key_id,
        wrapped_key=bytes(attachment.wrapped_key),
        wrap_nonce=bytes(attachment.wrap_nonce),
        content_nonce=bytes(attachment.content_nonce),
    )


def open_plaintext(attachment: Attachment) -> File:
    """Open the stored file, decrypting and authenticating it when it is encrypted."""
    envelope = envelope_of(attachment)
    if envelope is None:
        # Written before encryption at rest: the stored file is the plaintext.
        return default_storage.open(attachment.storage_key, "rb")

    master_key = encryption.load_master_key()
    with default_storage.open(attachment.storage_key, "rb") as stored:
        ciphertext = stored.read()
    try:
        plaintext = encryption.decrypt(ciphertext, envelope, master_key)
    except encryption.DecryptionFailed as error:
        reason = str(error)
    else:
        if hashlib.sha256(plaintext).hexdigest() == attachment.sha256:
            return File(io.BytesIO(plaintext), name=attachment.storage_key)
        reason = "plaintext SHA-256 differs from the recorded one"

    log.error(
        "attachment_integrity_failed",
        attachment_id=attachment.pk,
        consultation_id=attachment.consultation_id,
        storage_key=attachment.storage_key,
        key_id=envelope.key_id,
        reason=reason,
    )
    raise IntegrityFailed(
        gettext(
            "The stored file of attachment %(id)d failed its integrity check, so "
            "it is not served; report this to the administrator."
        )
        % {"id": attachment.pk},
        field="attachment_id",
    )


@dataclass
class RewrapBatch:
    """The outcome of one re-wrapping transaction."""

    # Highest primary key examined, where the next batch starts; None when
    # no rows were left.
    last_id: int | None = None
    rewrapped: int = 0
    # Attachment ids whose data key is wrapped under none of the given
    # master keys, or whose wrapped key failed authentication.
    unknown_key: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def rewrap_batch(
    after_id: int,
    limit: int,
    old_keys: dict[str, encryption.MasterKey],
    new_key: encryption.MasterKey,
) -> RewrapBatch:
    """Re-wrap up to `limit` data keys after `after_id` under `new_key`, in one
    transaction; stored files are not touched and rows already under it are skipped.
    """
    batch = RewrapBatch()
    with transaction.atomic():
        rows = list(
            Attachment.objects.select_for_update()
            .filter(pk__gt=after_id, wrapped_key__isnull=False)
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
                log.error("attachment_rewrap_failed", attachment_id=row.pk)
                batch.failed.append(row.pk)
                continue
            row.encryption_key_id = envelope.key_id
            row.wrapped_key = envelope.wrapped_key
            row.wrap_nonce = envelope.wrap_nonce
            changed.append(row)

        Attachment.objects.bulk_update(
            changed, ["encryption_key_id", "wrapped_key", "wrap_nonce"]
        )
    batch.rewrapped = len(changed)
    return batch
