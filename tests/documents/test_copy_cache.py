"""The cache of sealed copies, its eviction and the size limit of a copy."""

import io
import os
import time

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import translation

from protokol.consultations import services
from protokol.documents import cache as copy_cache
from protokol.documents.services import issue_copy
from protokol.journal.models import JournalEntry


def cached_files():
    return sorted(copy_cache.cache_dir().glob("??/*.pdf"))


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


def test_interface_language_keeps_the_key(signed_consultation, demo, monkeypatch):
    citizen = demo["citizen"]
    with translation.override("en"):
        _, first = issue_copy(citizen, signed_consultation.pk)

    def fail(*args, **kwargs):
        raise AssertionError("a cached copy was signed again")

    monkeypatch.setattr("protokol.documents.pades.sign_copy", fail)
    with translation.override("ru"):
        _, second = issue_copy(citizen, signed_consultation.pk)

    assert second == first


def test_requester_role_keeps_the_key(signed_consultation, demo, monkeypatch):
    # The citizen may dispute and the operator may archive, but neither
    # action is printed, so both get the same stored copy.
    _, citizen_copy = issue_copy(demo["citizen"], signed_consultation.pk)

    def fail(*args, **kwargs):
        raise AssertionError("a cached copy was signed again")

    monkeypatch.setattr("protokol.documents.pades.sign_copy", fail)
    _, operator_copy = issue_copy(demo["operator"], signed_consultation.pk)

    assert operator_copy == citizen_copy


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


def entry_key(number: int) -> str:
    return f"{number:064x}"


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """An empty cache directory of its own, so other tests' entries stay out."""
    monkeypatch.setattr(settings.CONFIG, "data_dir", tmp_path)
    return copy_cache.cache_dir()


def set_last_use(key: str, seconds_ago: float, now: float) -> None:
    path = copy_cache.cache_dir() / key[:2] / f"{key}.pdf"
    os.utime(path, (now - seconds_ago, now - seconds_ago))


def test_new_key_replaces_slot_entry(signed_consultation, demo):
    citizen = demo["citizen"]
    before = set(cached_files())
    issue_copy(citizen, signed_consultation.pk)
    [first] = set(cached_files()) - before

    services.transition(
        citizen, signed_consultation.pk, action="dispute", comment="Не согласна."
    )
    issue_copy(citizen, signed_consultation.pk)
    [second] = set(cached_files()) - before
    assert second != first
    assert not first.exists()

    # Another language is another slot, so both copies stay.
    issue_copy(citizen, signed_consultation.pk, language="en")
    assert len(set(cached_files()) - before) == 2
    assert second.exists()


def test_slot_keeps_entry_stored_again(private_cache):
    slot = copy_cache.slot_name(7, "ru", "masked")
    copy_cache.store(entry_key(1), b"%PDF-1 one", slot=slot)
    copy_cache.store(entry_key(1), b"%PDF-1 one", slot=slot)

    assert copy_cache.load(entry_key(1)) == b"%PDF-1 one"


def test_prune_deletes_entries_unused_too_long(private_cache):
    now = time.time()
    for number in (1, 2, 3):
        copy_cache.store(entry_key(number), b"x" * 100)
    set_last_use(entry_key(1), 3 * 86400, now)
    set_last_use(entry_key(2), 1 * 86400, now)

    result = copy_cache.prune(max_age_seconds=2 * 86400, max_bytes=0, now=now)

    assert result.removed == 1
    assert result.removed_bytes == 100
    assert result.kept == 2
    assert copy_cache.load(entry_key(1)) is None
    assert copy_cache.load(entry_key(2)) is not None
    assert copy_cache.load(entry_key(3)) is not None


def test_prune_above_size_deletes_least_recently_read(private_cache):
    now = time.time()
    for number in (1, 2, 3):
        copy_cache.store(entry_key(number), b"x" * 100)
        set_last_use(entry_key(number), 1000 - number * 100, now)
    # Reading the oldest entry makes it the most recently used.
    assert copy_cache.load(entry_key(1)) is not None

    result = copy_cache.prune(max_age_seconds=0, max_bytes=250, now=time.time())

    assert result.removed == 1
    assert result.kept_bytes == 200
    assert copy_cache.load(entry_key(2)) is None
    assert copy_cache.load(entry_key(1)) is not None
    assert copy_cache.load(entry_key(3)) is not None


def test_prune_dry_run_deletes_nothing(private_cache):
    copy_cache.store(entry_key(1), b"x" * 100)

    result = copy_cache.prune(max_age_seconds=0, max_bytes=1, dry_run=True)

    assert result.removed == 1
    assert copy_cache.load(entry_key(1)) is not None


def test_prune_removes_orphan_slots_and_stale_files(private_cache):
    now = time.time()
    slot = copy_cache.slot_name(7, "ru", "masked")
    copy_cache.store(entry_key(1), b"x" * 100, slot=slot)
    stale = private_cache / entry_key(1)[:2] / "abc.tmp"
    stale.write_bytes(b"partial")
    os.utime(stale, (now - 2 * copy_cache.STALE_TEMPORARY_SECONDS,) * 2)
    fonts = private_cache / "fonts" / "stamp.ttf"
    fonts.parent.mkdir()
    fonts.write_bytes(b"font")

    copy_cache.prune(max_age_seconds=0, max_bytes=1, now=now)

    assert not (private_cache / copy_cache.SLOTS_DIR / slot).exists()
    assert not stale.exists()
    assert fonts.exists()


def test_store_prunes_once_per_interval(private_cache, monkeypatch):
    monkeypatch.setattr(settings.CONFIG, "copy_cache_max_bytes", 150)
    copy_cache.store(entry_key(1), b"x" * 100)
    marker = private_cache / copy_cache.PRUNE_MARKER
    assert marker.exists()

    # The last prune is recent, so a store leaves the cache above the limit.
    copy_cache.store(entry_key(2), b"x" * 100)
    assert len(cached_files()) == 2

    old = time.time() - copy_cache.PRUNE_INTERVAL_SECONDS - 1
    os.utime(marker, (old, old))
    copy_cache.store(entry_key(3), b"x" * 100)
    assert len(cached_files()) == 1


def test_prune_command(private_cache):
    copy_cache.store(entry_key(1), b"x" * 100)
    output = io.StringIO()

    call_command(
        "copy_cache",
        "prune",
        "--max-age-seconds",
        "0",
        "--max-bytes",
        "1",
        stdout=output,
    )

    assert "deleted 1 cached copies (100 bytes)" in output.getvalue()
    assert cached_files() == []


def test_prune_command_rejects_negative_limit(private_cache):
    with pytest.raises(CommandError, match="--max-bytes must be 0"):
        call_command("copy_cache", "prune", "--max-bytes", "-1")


def test_negative_cache_limit_rejected():
    from pydantic import ValidationError

    from protokol.settings import Config

    with pytest.raises(ValidationError, match="PROTOKOL_COPY_CACHE_MAX_BYTES"):
        Config(copy_cache_max_bytes=-1)
