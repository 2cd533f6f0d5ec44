"""Fixtures of the security tests: a signed consultation with a file, and a PKI."""

from types import SimpleNamespace

import pytest

from consultations.factories import PATHS, act, consultation_in, upload
from protokol.consultations import attachments
from protokol.consultations.models import Status
from protokol.journal.models import JournalEntry
from protokol.signing.models import Signature


@pytest.fixture
def world(demo, pki_dir):
    """A signed consultation of `citizen` with a file, and one of `citizen2`."""
    consultation = consultation_in(demo, Status.DRAFTING)
    attachment = attachments.add_attachment(demo["citizen"], consultation.pk, upload())
    # The file is added while the draft is open, then the consultation is signed.
    for username, action in PATHS[Status.SIGNED][len(PATHS[Status.DRAFTING]) :]:
        act(demo[username], consultation, action)
    other = consultation_in(demo, Status.INITIATED, citizen="citizen2")
    return SimpleNamespace(
        users=demo,
        consultation=consultation,
        other=other,
        ids={
            "c": consultation.pk,
            "a": attachment.pk,
            "s": Signature.objects.filter(consultation=consultation).first().pk,
            "other": other.pk,
        },
    )


def new_entries(after: int) -> list[JournalEntry]:
    """Return the journal entries appended after index `after`."""
    return list(JournalEntry.objects.filter(index__gt=after).order_by("index"))


def last_index() -> int:
    last = JournalEntry.objects.order_by("-index").first()
    return -1 if last is None else last.index
