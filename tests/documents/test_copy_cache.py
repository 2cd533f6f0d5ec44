"""The cache of sealed copies and the size limit of a copy."""

from django.conf import settings

from protokol.consultations import services
from protokol.documents import cache as copy_cache
from protokol.documents.services import issue_copy
from protokol.journal.models import JournalEntry


def cached_files():
    return sorted(copy_cache.cache_dir().glob("*/*.pdf"))


def test_second_copy_comes_from_cache(signed_consultation, demo, monkeypatch):
    citizen = demo["citizen"]
    before = set(cached_files())
    _, first = issue_copy(citizen, signed_consultation.pk)
    stored = set(cached_files()) - before
    assert len(stored) == 1

    def fail(*args, **kwargs):
        raise AssertionError("a cached copy was signed again")

    monkeypatch.setattr("protokol.documents.pades.sign_copy", fail)
    _, second = issue_copy(citizen, signed_consultation.pk)

    assert second == first
    assert stored.pop().read_bytes() == first
    entries = JournalEntry.objects.filter(
        consultation_id=signed_consultation.pk, action="copy:read"
    )
    assert entries.count() == 2


def test_language_and_new_message_change_the_key(signed_consultation, demo):
    citizen = demo["citizen"]
    _, russian = issue_copy(citizen, signed_consultation.pk)
    _, english = issue_copy(citizen, signed_consultation.pk, language="en")
    assert english != russian

    services.transition(
        citizen, signed_consultation.pk, action="dispute", comment="Не согласна."
    )
    _, disputed = issue_copy(citizen, signed_consultation.pk)
    assert disputed != russian


def test_copy_above_text_limit_rejected(signed_consultation, api_client, monkeypatch):
    monkeypatch.setattr(settings.CONFIG, "copy_max_text_chars", 100)
    before = set(cached_files())
    api_client.login("citizen")

    response = api_client.get(
        f"/api/v1/consultations/{signed_consultation.pk}/protocol.pdf"
    )

    assert response.status_code == 413, response.content
    body = response.json()
    assert body["error"] == "payload_too_large"
    assert body["field"] == "consultation_id"
    assert body["limit"] == 100
    assert "PROTOKOL_COPY_MAX_TEXT_CHARS" in body["message"]
    assert "100" in body["message"]
    # Nothing was rendered, stored or journaled.
    assert set(cached_files()) == before
    assert not JournalEntry.objects.filter(
        consultation_id=signed_consultation.pk, action="copy:read"
    ).exists()
