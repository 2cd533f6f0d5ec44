"""Canonical bytes of a journal entry (RFC 8785) and its RFC 6962 leaf hash.

Entries of format 1 hash every field. Entries of format 2 hash a header that
commits to the personal data through `payload_hash`, the SHA-256 of a random
salt and the canonical payload. The payload is the actor name, the object
label, and the `comment` and `reason` members of `before`/`after`. So the
payload can be deleted while the leaf hash stays valid.

Journal entries hold strings, integers, booleans, None, lists and objects. For
those values with object keys below U+D800, `json` with sorted keys, no
spaces and no ASCII escaping writes exactly the RFC 8785 form, in C and about
50 times faster than the pure-Python `rfc8785` encoder. Anything else (floats,
integers beyond 2**53 - 1, keys whose UTF-16 order may differ from code point
order, lone surrogates, other types) goes through `rfc8785`, which also raises
the same errors for what JCS cannot represent. tests/journal/test_canonical.py
compares both encoders over real and adversarial values.
"""

import hashlib
import json
import os
from datetime import UTC, datetime

import rfc8785

LEAF_PREFIX = b"\x00"
# The largest integer that an IEEE 754 double represents exactly. JCS allows
# no larger one.
SAFE_INTEGER = 2**53 - 1
# Entry formats: 1 hashes every field, 2 a header with a salted payload hash.
FORMAT_FULL = 1
FORMAT_HEADER = 2
SALT_BYTES = 16
# Per action, the top-level members of `before`/`after` that contain free
# text written by people or a person's name, stored in the erasable payload
# of a format 2 entry. Other members (codes such as a denial's "reason",
# ids, statuses) stay in the header, where queries and the verifier read
# them.
PAYLOAD_MEMBERS = {
    "consultation:transition": ("comment", "assignee"),
    "consultation:forward": ("reason",),
    "consultation:extend": ("reason",),
    "personal_data:update": ("reason",),
    "retention:hold": ("reason",),
    "retention:hold_lift": ("reason",),
    "retention:grant": ("reason",),
    "dispute:assign": ("expert",),
}
# Shown in place of the actor name and object label of a redacted entry.
REDACTED = "[redacted]"
# Below the surrogates, UTF-16 code units order strings as code points do.
FIRST_SURROGATE = "\ud800"

_ENCODER = json.JSONEncoder(
    ensure_ascii=False,
    sort_keys=True,
    separators=(",", ":"),
    allow_nan=False,
    check_circular=False,
)
# Quotes and escapes one string as JSON does, leaving non-ASCII text as is.
_encode_string = json.encoder.encode_basestring


def _make_encode():
    """Return a function that writes a value as _ENCODER does, without its setup.

    JSONEncoder.encode builds a new C encoder on every call. Building it once
    here, with the arguments that JSONEncoder.iterencode passes, saves about a
    fifth of the encoding time (CPython 3.11). Without the C module, this
    returns _ENCODER.encode.
    """
    if json.encoder.c_make_encoder is None:
        return _ENCODER.encode
    encoder = json.encoder.c_make_encoder(
        None,  # no circular-reference markers, as check_circular=False
        _ENCODER.default,
        _encode_string,
        None,  # indent
        ":",
        ",",
        True,  # sort_keys
        False,  # skipkeys
        False,  # allow_nan
    )
    return lambda value: "".join(encoder(value, 0))


_encode = _make_encode()


def format_time(moment: datetime) -> str:
    """Format an aware time as UTC with microseconds: 2026-01-02T03:04:05.000006Z."""
    if moment.tzinfo is None:
        raise ValueError("journal times must be timezone-aware")
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    # isoformat ends in +00:00 here and pads the year to four digits as %Y
    # does for the years after 999.
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"


def _is_plain(value) -> bool:
    """Tell whether `json` writes `value` exactly as RFC 8785 does."""
    kind = type(value)
    if kind is dict:
        for key in value:
            if type(key) is not str or (
                not key.isascii() and max(key) >= FIRST_SURROGATE
            ):
                return False
        items = value.values()
    elif kind is list:
        items = value
    else:
        items = (value,)
    # Scalars are checked in this loop rather than by a call each, as most
    # entries hold flat objects of strings and small integers.
    for item in items:
        kind = type(item)
        if kind is str or item is None or kind is bool:
            continue
        if kind is int:
            if not -SAFE_INTEGER <= item <= SAFE_INTEGER:
                return False
        elif kind is dict or kind is list:
            if not _is_plain(item):
                return False
        else:
            return False
    return True


def dumps(value) -> bytes:
    """Return the RFC 8785 serialisation of `value`, fast for plain values."""
    if _is_plain(value):
        try:
            return _encode(value).encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate: rfc8785 raises its own error for it below.
            pass
    return rfc8785.dumps(value)


def _is_safe_integer(value) -> bool:
    return value is None or (
        type(value) is int and -SAFE_INTEGER <= value <= SAFE_INTEGER
    )


def _null_or(value, encode) -> str:
    return "null" if value is None else encode(value)


def header_part(action: str, document: dict | None) -> dict | None:
    """Return `document` without the payload members, as a format 2 header keeps it."""
    members = PAYLOAD_MEMBERS.get(action)
    if document is None or members is None:
        return document
    if not any(name in document for name in members):
        return document
    return {name: value for name, value in document.items() if name not in members}


def payload_part(action: str, document: dict | None) -> dict | None:
    """Return the payload members of `document`, or None when it has none."""
    members = PAYLOAD_MEMBERS.get(action)
    if document is None or members is None:
        return None
    found = {name: document[name] for name in members if name in document}
    return found or None


def payload_body(entry) -> dict:
    """Return the erasable payload of an entry whose fields are all present."""
    return {
        "actor_name": entry.actor_name,
        "object_label": entry.object_label,
        "before": payload_part(entry.action, entry.before),
        "after": payload_part(entry.action, entry.after),
    }


def new_salt() -> bytes:
    return os.urandom(SALT_BYTES)


def payload_hash(salt: bytes, body: dict) -> str:
    """Return hex SHA-256(salt || JCS(body)), the header's commitment to a payload."""
    return hashlib.sha256(bytes(salt) + dumps(body)).hexdigest()


def merge_payload(entry, body: dict | None) -> None:
    """Put a format 2 entry's payload back into its fields, in place.

    `body` None means the payload was redacted: the name and label become
    REDACTED and `before`/`after` keep their header members only.
    """
    if body is None:
        entry.actor_name = REDACTED
        entry.object_label = REDACTED
        return
    entry.actor_name = body["actor_name"]
    entry.object_label = body["object_label"]
    for name in ("before", "after"):
        part = body[name]
        if part:
            setattr(entry, name, {**(getattr(entry, name) or {}), **part})


def entry_document(entry) -> dict:
    """Return the fields of a JournalEntry (or a row with its attributes) to hash."""
    if getattr(entry, "format", FORMAT_FULL) == FORMAT_HEADER:
        return header_document(entry)
    return {
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


def header_document(entry) -> dict:
    """Return the header of a format 2 entry, the fields its leaf hash covers."""
    return {
        "format": FORMAT_HEADER,
        "index": entry.index,
        "time": format_time(entry.created_at),
        "action": entry.action,
        "actor": {"id": entry.actor_id, "role": entry.actor_role},
        "object": {"type": entry.object_type, "id": entry.object_id},
        "consultation_id": entry.consultation_id,
        "request_id": entry.request_id,
        "before": header_part(entry.action, entry.before),
        "after": header_part(entry.action, entry.after),
        "payload_hash": entry.payload_hash,
    }


def header_bytes(entry) -> bytes:
    """Serialise the header of a format 2 entry with JCS, by hand when plain.

    `before`/`after` may contain the payload members or not: they are left
    out either way, so an entry with its payload merged back hashes the same.
    """
    action, role, object_type, object_id = (
        entry.action,
        entry.actor_role,
        entry.object_type,
        entry.object_id,
    )
    request_id, index, digest = entry.request_id, entry.index, entry.payload_hash
    before = header_part(action, entry.before)
    after = header_part(action, entry.after)
    plain = (
        isinstance(action, str)
        and type(role) is str
        and type(object_type) is str
        and type(object_id) is str
        and type(request_id) is str
        and type(digest) is str
        and index is not None
        and _is_safe_integer(index)
        and _is_safe_integer(entry.actor_id)
        and _is_safe_integer(entry.consultation_id)
        and (before is None or _is_plain(before))
        and (after is None or _is_plain(after))
    )
    if plain:
        quote = _encode_string
        text = (
            f'{{"action":{quote(action)},'
            f'"actor":{{"id":{_null_or(entry.actor_id, str)},'
            f'"role":{quote(role)}}},'
            f'"after":{_null_or(after, _encode)},'
            f'"before":{_null_or(before, _encode)},'
            f'"consultation_id":{_null_or(entry.consultation_id, str)},'
            f'"format":{FORMAT_HEADER},'
            f'"index":{index},'
            f'"object":{{"id":{quote(object_id)},"type":{quote(object_type)}}},'
            f'"payload_hash":{quote(digest)},'
            f'"request_id":{quote(request_id)},'
            f'"time":"{format_time(entry.created_at)}"}}'
        )
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            pass  # A lone surrogate: rfc8785 raises its own error for it.
    return rfc8785.dumps(header_document(entry))


def canonical_bytes(entry) -> bytes:
    """Serialise the hashed fields of a JournalEntry with JCS (RFC 8785).

    Format 2 entries go to header_bytes(). For format 1, the members are
    written in their sorted order by hand; `entry_document` through
    `rfc8785` is the reference that this must equal.
    """
    if getattr(entry, "format", FORMAT_FULL) == FORMAT_HEADER:
        return header_bytes(entry)
    action, name, role = entry.action, entry.actor_name, entry.actor_role
    object_type, object_id, label = (
        entry.object_type,
        entry.object_id,
        entry.object_label,
    )
    request_id, index, before, after = (
        entry.request_id,
        entry.index,
        entry.before,
        entry.after,
    )
    # Plain `and` of checks, as all() over a generator costs a tenth of the
    # time per entry.
    plain = (
        isinstance(action, str)
        and type(name) is str
        and type(role) is str
        and type(object_type) is str
        and type(object_id) is str
        and type(label) is str
        and type(request_id) is str
        and index is not None
        and _is_safe_integer(index)
        and _is_safe_integer(entry.actor_id)
        and _is_safe_integer(entry.consultation_id)
        and (before is None or _is_plain(before))
        and (after is None or _is_plain(after))
    )
    if plain:
        quote = _encode_string
        text = (
            f'{{"action":{quote(action)},'
            f'"actor":{{"id":{_null_or(entry.actor_id, str)},'
            f'"name":{quote(name)},"role":{quote(role)}}},'
            f'"after":{_null_or(after, _encode)},'
            f'"before":{_null_or(before, _encode)},'
            f'"consultation_id":{_null_or(entry.consultation_id, str)},'
            f'"index":{index},'
            f'"object":{{"id":{quote(object_id)},"label":{quote(label)},'
            f'"type":{quote(object_type)}}},'
            f'"request_id":{quote(request_id)},'
            f'"time":"{format_time(entry.created_at)}"}}'
        )
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            pass  # A lone surrogate: rfc8785 raises its own error for it.
    return rfc8785.dumps(entry_document(entry))


def leaf_hash(data: bytes) -> str:
    """Return the hex RFC 6962 leaf hash SHA-256(0x00 || data)."""
    return hashlib.sha256(LEAF_PREFIX + data).hexdigest()
