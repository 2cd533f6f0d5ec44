"""`protokol security report`: actors with repeated denials, as a table or JSON."""

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from protokol.consultations import services
from protokol.errors import NotFound, PermissionDenied, ValidationFailed
from protokol.journal.queries import journal_entry
from protokol.security.context import Client, client_var
from protokol.security.report import parse_since
from protokol.security.services import record_denial


def report(*args) -> str:
    out = io.StringIO()
    call_command("security", "report", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def attempts(consultation, demo):
    """citizen2 denied three times in two kinds, operator2 once, an address twice."""
    for _ in range(2):
        with pytest.raises(NotFound):
            services.read_consultation(demo["citizen2"], consultation.pk)
    with pytest.raises(PermissionDenied):
        journal_entry(demo["citizen2"], 0)
    with pytest.raises(NotFound):
        services.read_consultation(demo["operator2"], consultation.pk)
    token = client_var.set(Client(ip="127.0.0.7"))
    try:
        for index in (5, 6):
            record_denial(None, object_type="consultation", object_id=index, reason="x")
    finally:
        client_var.reset(token)
    return consultation


def test_json_lists_repeated_denials(attempts, demo):
    result = json.loads(report("--json", "--min-denials", "2"))

    actors = result["actors"]
    assert [actor["subject"] for actor in actors] == ["user", "address"]
    first, second = actors
    assert first["subject_id"] == str(demo["citizen2"].pk)
    assert first["name"] == demo["citizen2"].display_name
    assert first["denials"] == 3
    assert first["kinds"] == {"consultation:not_visible": 2, "journal_entry:role": 1}
    assert first["objects"] == [f"consultation:{attempts.pk}", "journal_entry:0"]
    assert second["subject_id"] == "127.0.0.7"
    assert second["addresses"] == ["127.0.0.7"]
    assert result["min_denials"] == 2


def test_min_denials_one_includes_single_attempts(attempts, demo):
    result = json.loads(report("--json", "--min-denials", "1"))

    ids = {actor["subject_id"] for actor in result["actors"]}
    assert str(demo["operator2"].pk) in ids


def test_table_names_actors(attempts, demo):
    output = report("--min-denials", "3")

    assert "actors with 3 or more: 1" in output
    assert demo["citizen2"].display_name in output
    assert "consultation:not_visible 2" in output
    assert demo["operator2"].display_name not in output


def test_since_after_attempts_lists_nobody(attempts):
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()

    result = json.loads(report("--json", "--since", tomorrow))

    assert result["actors"] == []


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--since", "yesterday"], "--since"),
        (["--since", "10w"], "--since"),
        (["--min-denials", "0"], "--min-denials"),
    ],
)
def test_bad_options_named(db, args, option):
    with pytest.raises(CommandError, match=option):
        report(*args)


def test_bad_option_message_in_english(db):
    # The report's own lines are English, so its errors are too, whatever
    # the installation's language.
    with pytest.raises(CommandError) as error:
        report("--min-denials", "0")

    assert str(error.value) == "--min-denials must be 1 or more."


def test_bad_since_names_option_once(db):
    with pytest.raises(CommandError) as error:
        report("--since", "yesterday")

    assert str(error.value) == (
        "--since must be a duration such as 30m, 24h or 7d, or an ISO 8601 "
        "date or time; got 'yesterday'."
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", datetime(2026, 1, 2, 10, 30, tzinfo=UTC)),
        ("24h", datetime(2026, 1, 1, 12, 0, tzinfo=UTC)),
        ("7d", datetime(2025, 12, 26, 12, 0, tzinfo=UTC)),
        ("2026-01-01", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T08:00:00+03:00", datetime(2026, 1, 1, 5, 0, tzinfo=UTC)),
    ],
)
def test_parse_since(text, expected):
    now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)

    assert parse_since(text, now=now) == expected


def test_parse_since_rejects_nonsense():
    with pytest.raises(ValidationFailed) as error:
        parse_since("2026-13-45")

    assert error.value.field == "since"
