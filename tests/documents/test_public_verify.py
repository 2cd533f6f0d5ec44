"""The public /verify page: by number and code, or by uploading the copy."""

import re
from html import escape
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from django.utils.translation import gettext

from page_layout import laid_out
from protokol.documents import public
from protokol.documents.services import issue_copy, verification_code, verify_url
from protokol.journal.models import JournalEntry
from protokol.profiles import services as profiles
from protokol.signing import pki
from protokol.signing.management.commands.verify import Check
from protokol.signing.models import Signature
from protokol.web.verify_views import with_local_times
from web.test_browser import CHROMIUM


@pytest.fixture(autouse=True)
def _fresh_rate_limit():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def sealed_pdf(signed_consultation, demo) -> bytes:
    _, content = issue_copy(demo["citizen"], signed_consultation.pk)
    return content


def verify_entries(consultation):
    return [
        entry
        for entry in JournalEntry.objects.filter(
            consultation_id=consultation.pk, action="consultation:read"
        )
        if (entry.after or {}).get("via") == "web:verify"
    ]


def code_of(consultation) -> str:
    seal = Signature.objects.get(consultation=consultation, kind="seal")
    return verification_code(bytes(seal.document))


def test_verify_page_needs_no_login(client, db):
    response = client.get("/verify")

    assert response.status_code == 200
    assert "Проверка копии протокола" in response.content.decode()


def test_verify_by_qr_url(client, signed_consultation):
    url = verify_url(signed_consultation.number, code_of(signed_consultation))
    parts = urlsplit(url)
    response = client.get(f"{parts.path}?{parts.query}")

    page = response.content.decode()
    assert response.status_code == 200, page
    assert "Все проверки пройдены" in page
    assert signed_consultation.number in page

    (entry,) = verify_entries(signed_consultation)
    assert entry.actor_id is None
    assert entry.after == {"via": "web:verify", "mode": "code", "ok": True}


def test_verify_number_in_any_case(client, signed_consultation):
    number = signed_consultation.number
    code = code_of(signed_consultation)

    for typed in (number.lower(), f" {number.swapcase()} "):
        response = client.get("/verify", {"number": typed, "code": code.lower()})
        page = response.content.decode()
        assert response.status_code == 200, (typed, page)
        assert "Все проверки пройдены" in page, typed


def test_verify_number_with_latin_prefix(client, signed_consultation):
    typed = signed_consultation.number.replace("КП", "KP")

    response = client.get(
        "/verify", {"number": typed, "code": code_of(signed_consultation)}
    )

    page = response.content.decode()
    assert typed.startswith("KP-")
    assert response.status_code == 200, page
    assert "Все проверки пройдены" in page


def test_typed_code_reads_digits_as_letters():
    # Base32 has no 0, 1 or 8, so these can only be a misread O, I or B.
    assert public.typed_code(" t0d1-8o ") == "TODIBO"


def test_verify_code_typed_in_groups(client, signed_consultation):
    code = code_of(signed_consultation)
    groups = [code[start : start + 4] for start in range(0, len(code), 4)]

    for typed in ("-".join(groups), " ".join(groups), "\t".join(groups)):
        response = client.get(
            "/verify", {"number": signed_consultation.number, "code": typed}
        )
        page = response.content.decode()
        assert response.status_code == 200, (typed, page)
        assert "Все проверки пройдены" in page, typed


def test_verify_code_with_digits_for_letters(client, signed_consultation):
    code = code_of(signed_consultation)
    typed = code.replace("O", "0").replace("I", "1").replace("B", "8").lower()

    response = client.get(
        "/verify", {"number": signed_consultation.number, "code": typed}
    )

    page = response.content.decode()
    assert response.status_code == 200, (typed, page)
    assert "Все проверки пройдены" in page


UTC_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
PAGE_TIME = re.compile(r"\d{2}\.\d{2}\.\d{4} \d{2}:\d{2} \(Europe/Moscow\)")


def test_verify_code_times_local(client, signed_consultation):
    response = client.get(
        "/verify",
        {"number": signed_consultation.number, "code": code_of(signed_consultation)},
    )

    page = response.content.decode()
    assert response.status_code == 200, page
    assert PAGE_TIME.search(page)
    assert not UTC_TIME.search(page)


def test_verify_upload_times_local(client, signed_consultation, sealed_pdf):
    upload = SimpleUploadedFile("copy.pdf", sealed_pdf, "application/pdf")
    response = client.post("/verify", {"file": upload})

    page = response.content.decode()
    assert response.status_code == 200, page
    assert PAGE_TIME.search(page)
    assert not UTC_TIME.search(page)


def test_verify_times_in_profile_zone(client, demo, signed_consultation):
    profiles.set_time_zone(demo["citizen"], "Asia/Vladivostok")
    client.force_login(demo["citizen"])

    response = client.get(
        "/verify",
        {"number": signed_consultation.number, "code": code_of(signed_consultation)},
    )

    page = response.content.decode()
    assert "(Asia/Vladivostok)" in page
    assert "(Europe/Moscow)" not in page


def test_local_times_replaces_each_utc_time():
    report = public.PublicReport(
        number="КП-1",
        checks=[
            Check("a", True, "timestamp 2026-01-02T21:30:05.000006Z, covers all"),
            Check("b", True, "from 2026-06-30T20:59:00.000000Z to -"),
        ],
    )

    shown = with_local_times(report, ZoneInfo("Asia/Vladivostok"))

    assert shown.checks[0].detail == (
        "timestamp 03.01.2026 07:30 (Asia/Vladivostok), covers all"
    )
    assert shown.checks[1].detail == "from 01.07.2026 06:59 (Asia/Vladivostok) to -"
    assert shown.number == "КП-1"


def test_verify_wrong_code(client, signed_consultation):
    response = client.get(
        "/verify", {"number": signed_consultation.number, "code": "AAAAAAAAAAAAAAAA"}
    )

    assert response.status_code == 422
    assert (
        russian("No signed protocol has this number and code.")
        in response.content.decode()
    )
    assert not verify_entries(signed_consultation)


def test_verify_empty_code_names_field(signed_consultation):
    with pytest.raises(public.ValidationFailed) as raised:
        public.verify_code(signed_consultation.number, " ")
    assert raised.value.field == "code"


def test_verify_upload(client, signed_consultation, sealed_pdf):
    upload = SimpleUploadedFile("copy.pdf", sealed_pdf, "application/pdf")
    response = client.post("/verify", {"file": upload})

    page = response.content.decode()
    assert response.status_code == 200, page
    assert "Все проверки пройдены" in page
    (entry,) = verify_entries(signed_consultation)
    assert entry.after == {"via": "web:verify", "mode": "upload", "ok": True}


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_verify_report_fits_panel(client, signed_consultation, sealed_pdf):
    upload = SimpleUploadedFile("copy.pdf", sealed_pdf, "application/pdf")
    html = client.post("/verify", {"file": upload}).content.decode()

    with laid_out(html) as page:
        checks = page.locator(".verify-checks li").count()
        overflowing = page.eval_on_selector_all(
            ".verify-checks li",
            "items => items.filter(i => i.scrollWidth > i.clientWidth)"
            ".map(i => i.textContent.trim())",
        )

    assert checks > 0
    assert overflowing == []


def test_verify_upload_foreign_copy(client, demo, signed_consultation):
    from protokol.consultations import services
    from protokol.consultations.models import Consultation

    # Another installation numbers its consultations the same way: its copy
    # names a local number, but neither its signatures nor its code are ours.
    _, foreign_copy = issue_copy(demo["citizen"], signed_consultation.pk)
    number = signed_consultation.number
    Consultation.objects.filter(pk=signed_consultation.pk).update(number="КП-0")
    local = services.create_consultation(
        demo["citizen"],
        service_code="GEN",
        subject="Другое обращение",
        description="Обращение с тем же номером.",
    )
    Consultation.objects.filter(pk=local.pk).update(number=number)

    upload = SimpleUploadedFile("copy.pdf", foreign_copy, "application/pdf")
    response = client.post("/verify", {"file": upload})

    assert response.status_code == 200, response.content.decode()
    assert not verify_entries(local)
    assert not verify_entries(signed_consultation)


def test_verify_upload_key_error_in_page_language(
    client, signed_consultation, sealed_pdf, tmp_path, monkeypatch, russian_catalog
):
    from django.conf import settings

    from journal.conftest import write_signing_key

    # The installation's checkpoint key changed after the copy was issued.
    key_file = write_signing_key(tmp_path / "new-journal.pem")
    monkeypatch.setattr(settings.CONFIG, "journal_key_file", key_file)
    message = "note carries no signature by key '%(name)s'"
    russian = russian_catalog(message, "в заметке нет подписи ключом «%(name)s»")

    upload = SimpleUploadedFile("copy.pdf", sealed_pdf, "application/pdf")
    response = client.post("/verify", {"file": upload})

    page = response.content.decode()
    name = settings.CONFIG.journal_origin
    assert response.status_code == 200, page
    assert escape(russian % {"name": name}) in page
    assert escape(message % {"name": name}) not in page


def test_verify_upload_without_journal_key(
    client, signed_consultation, sealed_pdf, tmp_path, monkeypatch
):
    from django.conf import settings

    monkeypatch.setattr(settings.CONFIG, "journal_key_file", tmp_path / "none.pem")

    upload = SimpleUploadedFile("copy.pdf", sealed_pdf, "application/pdf")
    response = client.post("/verify", {"file": upload})

    page = response.content.decode()
    assert response.status_code == 503
    assert escape(russian(NO_JOURNAL_KEY)) in page
    assert "none.pem" not in page


def test_verify_upload_hides_server_paths(client, signed_consultation, sealed_pdf):
    upload = SimpleUploadedFile("copy.pdf", sealed_pdf, "application/pdf")
    response = client.post("/verify", {"file": upload})

    page = response.content.decode()
    assert response.status_code == 200, page
    assert str(pki.pki_dir()) not in page
    assert escape(russian("the installation's root certificate")) in page


def test_verify_upload_tampered(client, signed_consultation, sealed_pdf):
    data = bytearray(sealed_pdf)
    data[11] ^= 0x01
    upload = SimpleUploadedFile("copy.pdf", bytes(data), "application/pdf")
    response = client.post("/verify", {"file": upload})

    page = response.content.decode()
    assert response.status_code == 200, page
    assert "Проверка не пройдена" in page
    assert russian("the signed bytes were changed") in page
    (entry,) = verify_entries(signed_consultation)
    assert entry.after["ok"] is False


def test_verify_upload_quotes_library_reason(client, signed_consultation, sealed_pdf):
    import io

    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    # The update replaces the first page's contents. pyHanko rejects it with
    # an English sentence, which a Russian page can only quote.
    buffer = io.BytesIO(sealed_pdf)
    writer = IncrementalPdfFileWriter(buffer, strict=False)
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    forged = generic.StreamObject(stream_data=b"BT /F1 24 Tf 100 100 Td (X) Tj ET")
    page["/Contents"] = writer.add_object(forged)
    writer.update_container(page)
    writer.write_in_place()
    upload = SimpleUploadedFile("copy.pdf", buffer.getvalue(), "application/pdf")
    response = client.post("/verify", {"file": upload})

    page = response.content.decode()
    assert response.status_code == 200, page
    assert "Проверка не пройдена" in page
    opening = russian('pyHanko reports: "%(message)s"').split("%(message)s")[0]
    assert escape(opening) + "Values for dict key /Contents differ" in page


def test_verify_upload_not_pdf(client, db):
    upload = SimpleUploadedFile("copy.pdf", b"plain text", "application/pdf")
    response = client.post("/verify", {"file": upload})

    assert response.status_code == 422
    assert russian("The file is not a PDF.") in response.content.decode()


def test_verify_upload_without_file(client, db):
    response = client.post("/verify", {})

    assert response.status_code == 422
    assert 'id="id_file"' in response.content.decode()
    assert "field--error" in response.content.decode()


def test_verify_rate_limited(client, signed_consultation):
    for _ in range(public.RATE_LIMIT):
        response = client.get("/verify", {"number": "КП-0", "code": "X"})
        assert response.status_code == 422

    response = client.get("/verify", {"number": "КП-0", "code": "X"})
    assert response.status_code == 429
    assert russian(TOO_MANY) in response.content.decode()
    assert 0 < int(response["Retry-After"]) <= public.RATE_WINDOW_SECONDS


TOO_MANY = "Too many checks from this address; try again in 10 minutes."
NO_JOURNAL_KEY = (
    "Checking is not available: the journal's checkpoint key is not set up."
)


def russian(message: str) -> str:
    """Return the Russian text of a message, as the pages show it by default."""
    with translation.override("ru"):
        return gettext(message)
