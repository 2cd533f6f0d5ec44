"""Storing and serving attachments under generated keys, never the uploader's name."""

import hashlib
import mimetypes
import os
import unicodedata
import uuid

import filetype
from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, pgettext

from protokol.consultations import permissions
from protokol.consultations.models import Attachment, Consultation
from protokol.consultations.services import (
    _ensure_not_sealed,
    get_visible,
    journal_denials,
)
from protokol.errors import (
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    UnsupportedMediaType,
    ValidationFailed,
)
from protokol.journal import services as journal
from protokol.journal.models import JournalAction

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


def check_content_matches(upload, declared: str) -> None:
    """Raise 415 unless the file's bytes are of the declared media type."""
    sniffed = sniff_content_type(upload)
    if sniffed == declared or sniffed in CONTAINER_TYPES.get(declared, ()):
        return
    raise UnsupportedMediaType(
        gettext(
            "file is declared as '%(declared)s' but its content is "
            "'%(sniffed)s'; upload a file of an allowed type."
        )
        % {
            "declared": declared,
            "sniffed": sniffed or pgettext("file content type", "not recognised"),
        },
        field="file",
    )


def resolve_content_type(declared: str | None, name: str) -> str:
    """Return the declared media type, or the one the name suggests if it is generic."""
    media_type = (declared or "").split(";")[0].strip().lower()
    if media_type in GENERIC_TYPES:
        media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return media_type


@journal_denials
def add_attachment(actor, consultation_id, upload) -> Attachment:
    """Store an uploaded file and attach it; 413 if too large, 415 if not allowed."""
    config = settings.CONFIG
    if upload is None:
        raise ValidationFailed(
            gettext("file is missing; send it as multipart 'file'."), field="file"
        )
    if upload.size > config.max_upload_bytes:
        raise PayloadTooLarge(
            gettext("file is %(size)d bytes; the maximum is %(limit)d.")
            % {"size": upload.size, "limit": config.max_upload_bytes},
            field="file",
        )
    if upload.size == 0:
        raise ValidationFailed(gettext("file is empty."), field="file")
    name = safe_name(upload.name)
    content_type = resolve_content_type(upload.content_type, name)
    if content_type not in config.allowed_upload_types:
        raise UnsupportedMediaType(
            gettext("Files of type '%(type)s' are not accepted; allowed: %(allowed)s.")
            % {
                "type": content_type,
                "allowed": ", ".join(config.allowed_upload_types),
            },
            field="file",
        )
    check_content_matches(upload, content_type)

    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    key = uuid.uuid4().hex
    storage_key = f"{key[:2]}/{key}"

    # A denial raised inside the transaction would roll back its journal
    # entry, so visibility is checked once before the transaction starts.
    get_visible(actor, consultation_id)
    with transaction.atomic():
        consultation = get_visible(actor, consultation_id, for_update=True)
        _ensure_not_sealed(consultation, pgettext("sealed", "attachments"))
        if not permissions.can_add_attachment(actor, consultation):
            raise PermissionDenied(
                gettext("You may not attach files here."), field="file"
            )

        saved_key = default_storage.save(storage_key, File(upload))
        try:
            attachment = Attachment.objects.create(
                consultation=consultation,
                uploaded_by=actor,
                original_name=name,
                content_type=content_type,
                size=upload.size,
                sha256=digest.hexdigest(),
                storage_key=saved_key,
                created_at=timezone.now(),
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
                    "content_type": content_type,
                },
            )
        except Exception:
            # No row may point at a missing file, and no file outlives its row.
            default_storage.delete(saved_key)
            raise
    return attachment


def open_attachment(actor, consultation_id, attachment_id) -> tuple[Attachment, File]:
    """Return a visible attachment and its open file, journaling the download."""
    consultation: Consultation = get_visible(actor, consultation_id)
    try:
        attachment = consultation.attachments.get(pk=int(attachment_id))
    except (Attachment.DoesNotExist, ValueError, TypeError):
        raise NotFound(
            gettext("Attachment not found."), field="attachment_id"
        ) from None

    handle = default_storage.open(attachment.storage_key, "rb")
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
