"""A citizen's data export: one zip of their consultations, copies and access log.

The archive contains:

- `manifest.json`: when it was made, the account, and the lists below;
- `identifiers.json`: the citizen's decrypted identifiers, if any;
- `consultations/<number>.json`: each visible consultation as the citizen
  sees it (presenters.consultation_detail with public_only);
- `copies/<file>.pdf`: the sealed copy of each signed protocol, made by
  documents.services.issue_copy, which journals each copy itself;
- `access-journal.json`: the journal entries of reads of those
  consultations and of the identifiers, by anyone.
"""

import io
import json
import zipfile

import structlog
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext

from protokol.accounts.identifiers import read_identifiers
from protokol.accounts.models import Role
from protokol.consultations import permissions
from protokol.consultations.lifecycle import SEALED_STATUSES
from protokol.consultations.models import Consultation
from protokol.consultations.presenters import consultation_detail
from protokol.documents.services import issue_copy
from protokol.errors import PermissionDenied
from protokol.journal import services as journal
from protokol.journal.canonical import format_time
from protokol.journal.models import JournalAction, JournalEntry
from protokol.retention.models import Disposal

log = structlog.get_logger(__name__)

EXPORT_ACTION = JournalAction.RETENTION_EXPORT
# Entries that record someone reading the citizen's records.
ACCESS_ACTIONS = (
    JournalAction.CONSULTATION_READ,
    JournalAction.ATTACHMENT_READ,
    JournalAction.COPY_READ,
    JournalAction.JOURNAL_READ,
    JournalAction.PERSONAL_DATA_READ,
    JournalAction.PERSONAL_DATA_LOOKUP,
    JournalAction.PROTOCOL_ACKNOWLEDGE,
)


def _json(value) -> bytes:
    return json.dumps(
        value, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2
    ).encode()


def _access_entries(user, consultation_ids: list[int]) -> list[dict]:
    """Return the reads of the citizen's consultations and identifiers, oldest first."""
    entries = JournalEntry.objects.filter(
        Q(consultation_id__in=consultation_ids, action__in=ACCESS_ACTIONS)
        | Q(object_type="citizen_identifiers", object_id=str(user.pk))
    ).order_by("index")
    return [
        {
            "index": entry.index,
            "time": format_time(entry.created_at),
            "action": entry.action,
            "actor": {"name": entry.actor_name, "role": entry.actor_role},
            "consultation": entry.object_label if entry.consultation_id else None,
            "leaf_hash": entry.leaf_hash,
        }
        for entry in journal.with_payloads(list(entries))
    ]


def build_export(actor) -> tuple[str, bytes]:
    """Build the citizen's export and journal it; return the file name and zip bytes."""
    if not actor.is_authenticated or actor.role != Role.CITIZEN:
        raise PermissionDenied(gettext("Only citizens may export their data."))

    consultations = list(
        Consultation.objects.filter(permissions.consultation_scope(actor))
        .select_related("service", "department", "citizen", "assignee")
        .order_by("created_at", "id")
    )
    buffer = io.BytesIO()
    copies = []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for consultation in consultations:
            detail = consultation_detail(consultation, actor, public_only=True)
            archive.writestr(f"consultations/{consultation.number}.json", _json(detail))
            if consultation.status in SEALED_STATUSES:
                name, pdf = issue_copy(actor, consultation.pk)
                archive.writestr(f"copies/{name}", pdf)
                copies.append(name)

        identifiers = read_identifiers(actor, via="export")
        if identifiers:
            archive.writestr("identifiers.json", _json(identifiers))
        access = _access_entries(actor, [c.pk for c in consultations])
        archive.writestr("access-journal.json", _json(access))
        # Consultations no longer readable here, as facts without content.
        disposed = [
            {
                "number": disposal.number,
                "end_action": disposal.end_action,
                "disposed_at": disposal.disposed_at,
            }
            for disposal in Disposal.objects.filter(citizen_id=actor.pk)
        ]
        manifest = {
            "generated_at": timezone.now(),
            "account": {
                "username": actor.username,
                "name": actor.get_full_name(),
                "email": actor.email,
            },
            "consultations": [c.number for c in consultations],
            "copies": copies,
            "access_entries": len(access),
            "disposed": disposed,
        }
        archive.writestr("manifest.json", _json(manifest))

    content = buffer.getvalue()
    journal.record_now(
        EXPORT_ACTION,
        actor=actor,
        object_type="user",
        object_id=actor.pk,
        object_label=actor.username,
        after={
            "consultations": len(consultations),
            "copies": len(copies),
            "access_entries": len(access),
            "bytes": len(content),
        },
    )
    log.info("data_export_built", user_id=actor.pk, bytes=len(content))
    return f"protokol-export-{actor.pk}.zip", content


def export_response(actor) -> HttpResponse:
    """Build the export and return it as a zip download, for the API and the page."""
    filename, content = build_export(actor)
    response = HttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
