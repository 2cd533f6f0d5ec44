"""The fast canonical encoder writes exactly what the rfc8785 package writes."""

import gzip
import json
import random
from collections import namedtuple
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import rfc8785

from protokol.journal import canonical
from protokol.journal.canonical import canonical_bytes, entry_document
from protokol.journal.models import JournalEntry
from protokol.journal.services import ROW_FIELDS, iter_entry_rows

SAMPLE = Path(canonical.__file__).parent.parent / "data" / "spb_appeals_sample.jsonl.gz"
# Characters where JSON encoders tend to differ: every control character,
# DEL, quotes, backslash, the JavaScript line separators, a BOM, the last
# BMP characters and non-BMP ones.
TRICKY = (
    [chr(code) for code in range(0x20)]
    + ['"', "\\", "/", "\x7f", "\u0080", "\u00e9", "\u2028", "\u2029", "\ufeff"]
    + ["\ud7ff", "\ue000", "\uffee", "\uffff", "\U0001f600", "\U00010000"]
    + ["\U0010ffff", "ё", "Ж", "№", "€", "a", "Z", "0", " "]
)
Row = namedtuple("Row", ROW_FIELDS)


def same_as_reference(value) -> None:
    """Assert canonical.dumps(value) equals rfc8785, or both raise the same error.

    rfc8785 raises CanonicalizationError, or UnicodeEncodeError for a lone
    surrogate in a key; both are ValueErrors.
    """
    try:
        expected = rfc8785.dumps(value)
    except ValueError as error:
        with pytest.raises(type(error)):
            canonical.dumps(value)
        return
    assert canonical.dumps(value) == expected, value


def random_text(rng: random.Random) -> str:
    return "".join(rng.choice(TRICKY) for _ in range(rng.randrange(0, 12)))


def random_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice(
            [
                0,
                -1,
                1,
                2**31,
                -(2**31),
                2**53 - 1,
                -(2**53 - 1),
                rng.randrange(-(10**15), 10**15),
            ]
        )
    if kind == 3:
        return rng.choice([0.0, -0.0, 1.0, 0.1, 1e21, 1e-7, 2.5, -123.456])
    if kind in (4, 5):
        return random_text(rng)
    if kind in (6, 7):
        return {
            random_text(rng): random_value(rng, depth + 1)
            for _ in range(rng.randrange(5))
        }
    return [random_value(rng, depth + 1) for _ in range(rng.randrange(5))]


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        {},
        [],
        "",
        "\u2028\u2029",
        "\U0001f600",
        'quote " and backslash \\',
        "".join(chr(code) for code in range(0x20)),
        2**53 - 1,
        -(2**53 - 1),
        2**53,
        -(2**53),
        10**30,
        1.0,
        0.1,
        float("nan"),
        float("inf"),
        "\ud800",
        {"\udfff": 1},
        {1: "integer key"},
        ("tuple", 1),
        {"b": 1, "a": 2, "A": 3, "_": 4, "ё": 5, "я": 6},
        # Code point order puts U+E000 first, UTF-16 order the emoji.
        {"\ue000": 1, "\U0001f600": 2},
        {"\uffff": 1, "\U00010000": 2},
        {"deep": [{"z": [None, {"y": "\x00"}]}]},
        {"count": 1.0, "via": "api"},
        bytes(3),
        {"set": {1, 2}},
    ],
)
def test_fixed_values_match_reference(value):
    same_as_reference(value)


def test_random_values_match_reference():
    rng = random.Random(8785)

    for _ in range(3000):
        same_as_reference(random_value(rng))


def test_sample_appeals_match_reference():
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as lines:
        appeals = [json.loads(line) for _, line in zip(range(300), lines, strict=False)]

    for appeal in appeals:
        same_as_reference(appeal)


def row(**fields) -> Row:
    values = {
        "index": 12,
        "created_at": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        "action": "consultation:read",
        "actor_id": 3,
        "actor_name": "Анна Иванова",
        "actor_role": "citizen",
        "object_type": "consultation",
        "object_id": "12",
        "object_label": "КП-2026-000012",
        "consultation_id": 12,
        "request_id": "abc",
        "before": None,
        "after": {"via": "api"},
        "leaf_hash": "",
        "format": 1,
        "payload_hash": "",
        "payload__salt": None,
        "payload__body": None,
        **fields,
    }
    return Row(**values)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"actor_id": None, "consultation_id": None},
        {"actor_name": 'О"Брайен \\ \u2028 \U0001f600 \x01'},
        {"object_label": "\t\n\r\b\f"},
        {"request_id": "\ud800"},
        {"index": 2**53},
        {"consultation_id": 2**60},
        {"after": {"count": 1.0}},
        {"after": {"\ue000": 1, "\U0001f600": 2}},
        {"before": {"status": "new", "ids": [1, 2, None, True]}},
        {
            "created_at": datetime(
                2026, 1, 2, 6, 4, 5, 6, tzinfo=timezone(timedelta(hours=3))
            )
        },
    ],
)
def test_entry_fields_match_reference(fields):
    entry = row(**fields)
    try:
        expected = rfc8785.dumps(entry_document(entry))
    except ValueError as error:
        with pytest.raises(type(error)):
            canonical_bytes(entry)
        return

    assert canonical_bytes(entry) == expected


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"actor_id": None, "consultation_id": None},
        {"request_id": "\ud800"},
        {"index": 2**53},
        {"after": {"count": 1.0}},
        {"after": {"\ue000": 1, "\U0001f600": 2}},
        {
            "action": "consultation:transition",
            "after": {"comment": "Отзываю", "status": "withdrawn"},
            "before": {"status": "new"},
        },
        {"action": "consultation:transition", "after": {"comment": "только текст"}},
        {"payload_hash": 'О"Брайен \u2028'},
    ],
)
def test_header_fields_match_reference(fields):
    entry = row(**{"format": 2, "payload_hash": "ab" * 32, **fields})
    try:
        expected = rfc8785.dumps(entry_document(entry))
    except ValueError as error:
        with pytest.raises(type(error)):
            canonical_bytes(entry)
        return

    assert canonical_bytes(entry) == expected


def test_header_leaves_out_payload_members():
    entry = row(
        format=2,
        payload_hash="ab" * 32,
        action="consultation:transition",
        after={"comment": "Отзываю", "status": "withdrawn"},
    )

    document = json.loads(canonical_bytes(entry))

    assert document["after"] == {"status": "withdrawn"}
    assert "name" not in document["actor"]
    assert "label" not in document["object"]
    assert document["format"] == 2


def test_payload_hash_covers_salt_and_body():
    body = {"actor_name": "Анна", "object_label": "", "before": None, "after": None}

    first = canonical.payload_hash(b"\x00" * 16, body)

    assert first == canonical.payload_hash(b"\x00" * 16, dict(body))
    assert first != canonical.payload_hash(b"\x01" * 16, body)
    assert first != canonical.payload_hash(b"\x00" * 16, {**body, "actor_name": "Б"})


def test_stored_entries_match_reference(busy_journal_rows):
    for entry in busy_journal_rows:
        assert canonical_bytes(entry) == rfc8785.dumps(entry_document(entry))


@pytest.fixture
def busy_journal_rows(consultation, demo):
    from protokol.consultations import services

    services.add_message(
        demo["citizen"], consultation.pk, text="Добрый день\u2028", visibility="public"
    )
    services.read_consultation(demo["reviewer"], consultation.pk)
    rows = list(iter_entry_rows())
    assert len(rows) == JournalEntry.objects.count() > 2
    return rows
