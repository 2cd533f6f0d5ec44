"""The module's numbers on the packaged St Petersburg appeals, checked against the
file itself, read without the import code."""

import statistics
from datetime import datetime

import pytest

from protokol.accounts.models import User
from protokol.analytics.facts import SATISFIED_STATUS
from protokol.analytics.filters import Filters
from protokol.analytics.measures import statistics_rows

pytestmark = pytest.mark.django_db

ANSWER_TYPES = {"answer", "interim_answer"}


def _first_answer_seconds(record) -> float | None:
    answers = [
        datetime.fromisoformat(e["at"])
        for e in record["events"]
        if e["type"] in ANSWER_TYPES
    ]
    if not answers:
        return None
    created = datetime.fromisoformat(record["created_at"])
    return (min(answers) - created).total_seconds()


def _marked_satisfied(record) -> bool:
    return any(
        e["type"] == "status" and e["status_name"] == SATISFIED_STATUS
        for e in record["events"]
    )


@pytest.fixture
def portal_total(imported):
    supervisor = User.objects.get(username="supervisor")
    (row,) = statistics_rows(supervisor, Filters(channel="portal"), None)
    return row


def test_import_wrote_whole_sample(imported, sample_records):
    assert imported.imported == len(sample_records)
    assert imported.skipped == 0


def test_total_matches_file(portal_total, sample_records):
    assert portal_total["total"] == len(sample_records)


def test_first_response_median_matches_file(portal_total, sample_records):
    seconds = [_first_answer_seconds(r) for r in sample_records]
    answered = [s for s in seconds if s is not None]

    assert portal_total["first_response_n"] == len(answered)
    assert portal_total["first_response_median_s"] == statistics.median(answered)


def test_satisfied_share_matches_file(portal_total, sample_records):
    satisfied = sum(_marked_satisfied(r) for r in sample_records)

    assert satisfied > 0
    assert portal_total["satisfied"] == satisfied
    assert portal_total["satisfied_share"] == satisfied / len(sample_records)


def test_disputes_match_follow_up_petitions(portal_total, sample_records):
    with_follow_up = sum(
        1
        for r in sample_records
        if sum(e["type"] == "petition" for e in r["events"]) > 1
    )
    assert 0 < portal_total["disputed"] <= with_follow_up
