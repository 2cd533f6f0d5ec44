"""HTTP API of the journal's transparency log, mounted at /api/v1/journal.

The checkpoint and the proofs are public, because they reveal only hashes;
entries by index are for auditors, supervisors and administrators.
"""

from django.http import HttpResponse
from django.utils.translation import gettext
from ninja import Router, Schema

from protokol.api.auth import API_AUTH
from protokol.api.schemas import PathInt
from protokol.errors import NotFound
from protokol.journal import checkpoints, tree
from protokol.journal.canonical import format_time
from protokol.journal.queries import journal_entry

router = Router(tags=["journal"])


class InclusionProofOut(Schema):
    index: int
    size: int
    root: str
    hashes: list[str]


class ConsistencyProofOut(Schema):
    old: int
    new: int
    old_root: str
    new_root: str
    hashes: list[str]


class JournalEntryDetailOut(Schema):
    index: int
    created_at: str
    action: str
    actor_id: int | None
    actor_name: str
    actor_role: str
    object_type: str
    object_id: str
    object_label: str
    consultation_id: int | None
    request_id: str
    before: dict | None
    after: dict | None
    leaf_hash: str
    format: int
    payload_hash: str


@router.get("/checkpoint", auth=None)
def get_checkpoint(request):
    """Return the latest signed checkpoint as a C2SP signed note (text/plain)."""
    checkpoint = checkpoints.fresh_checkpoint()
    if checkpoint is None:
        raise NotFound(gettext("No checkpoint has been issued yet."))
    response = HttpResponse(checkpoint.note, content_type="text/plain; charset=utf-8")
    # The checkpoint changes as the log grows.
    response["Cache-Control"] = "no-cache"
    return response


@router.get("/checkpoints/{size}/timestamp.tsr", auth=None)
def get_checkpoint_timestamp(request, size: PathInt):
    """Return the RFC 3161 token of the checkpoint at `size` (DER).

    The token's message imprint is SHA-256 of the checkpoint note exactly as
    `GET /checkpoint` served it, so `openssl ts -verify -data NOTE -in TOKEN
    -token_in` checks it.
    """
    checkpoint = checkpoints.checkpoint_at(size)
    if checkpoint is None or checkpoint.timestamp_token is None:
        raise NotFound(
            gettext("No timestamped checkpoint has size %(size)s.") % {"size": size},
            field="size",
        )
    return HttpResponse(
        bytes(checkpoint.timestamp_token), content_type="application/timestamp-reply"
    )


@router.get("/proofs/inclusion", auth=None, response=InclusionProofOut)
def get_inclusion_proof(request, index: int, size: int):
    """Return the audit path of entry `index` in the tree of `size` entries (hex)."""
    hashes = tree.inclusion_proof(index, size)
    return {
        "index": index,
        "size": size,
        "root": tree.root(size).hex(),
        "hashes": [node.hex() for node in hashes],
    }


@router.get("/proofs/consistency", auth=None, response=ConsistencyProofOut)
def get_consistency_proof(request, old: int, new: int):
    """Return the proof that the tree of `new` entries extends that of `old` (hex)."""
    hashes = tree.consistency_proof(old, new)
    return {
        "old": old,
        "new": new,
        "old_root": tree.root(old).hex(),
        "new_root": tree.root(new).hex(),
        "hashes": [node.hex() for node in hashes],
    }


@router.get("/entries/{index}", auth=API_AUTH, response=JournalEntryDetailOut)
def get_entry(request, index: PathInt):
    """Return one journal entry with its leaf hash (auditors, supervisors, admins).

    A redacted entry of format 2 shows "[redacted]" as actor name and label.
    """
    entry = journal_entry(request.user, index)
    return {
        "index": entry.index,
        "created_at": format_time(entry.created_at),
        "action": entry.action,
        "actor_id": entry.actor_id,
        "actor_name": entry.actor_name,
        "actor_role": entry.actor_role,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "object_label": entry.object_label,
        "consultation_id": entry.consultation_id,
        "request_id": entry.request_id,
        "before": entry.before,
        "after": entry.after,
        "leaf_hash": entry.leaf_hash,
        "format": entry.format,
        "payload_hash": entry.payload_hash,
    }
