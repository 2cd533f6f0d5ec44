"""Canonical bytes of a journal entry (RFC 8785) and its RFC 6962 leaf hash."""

import hashlib
from datetime import UTC, datetime

import rfc8785

LEAF_PREFIX = b"\x00"


def format_time(moment: datetime) -> str:
    """Format an aware time as UTC with microseconds: 2026-01-02T03:04:05.000006Z."""
    if moment.tzinfo is None:
        raise ValueError("journal times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(entry) -> bytes:
    """Serialise the fields of a JournalEntry with the JSON Canonicalization Scheme."""
    document = {
        "index": entry.index,
        "time": format_time(entry.created_at),
        "action": entry.action,
        "actor": {
            "id": entry.actor_id,
            "name": entry.actor_name,
            "role": entry.actor_role,
        },
        "object": {
            "type": entry.object_type,
            "id": entry.object_id,
            "label": entry.object_label,
        },
        "consultation_id": entry.consultation_id,
        "request_id": entry.request_id,
        "before": entry.before,
        "after": entry.after,
    }
    return rfc8785.dumps(document)


def leaf_hash(data: bytes) -> str:
    """Return the hex RFC 6962 leaf hash SHA-256(0x00 || data)."""
    return hashlib.sha256(LEAF_PREFIX + data).hexdigest()
