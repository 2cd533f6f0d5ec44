"""Sealed copies of signed protocols, checked with poppler, qpdf and `verify`."""

import gc
import io
import json
import warnings

import pytest
from django.core.management import CommandError, call_command

from protokol.consultations import services
from protokol.documents.pdf import DISPLAY_ZONE
from protokol.documents.services import issue_copy, verification_code
from protokol.signing.models import Signature
from protokol.signing.reports import signature_reports
from signing.conftest import openssl

from .pdf_tools import (
    CITIZEN_MESSAGE,
    DECISION,
    OPERATOR_ANSWER,
    contains_words,
    pdf_text,
    run_tool,
)

# These tests read the English messages of the CLI and the reports.
pytestmark = pytest.mark.usefixtures("english")

EMBEDDED = {
    "protocol.json",
    "journal-entry.json",
    "journal-entry.tlog-proof",
    "journal.pub",
}


@pytest.fixture
def sealed(signed_consultation, demo, tmp_path):
    """The citizen's sealed copy of the signed consultation, as a file."""
    _, content = issue_copy(demo["citizen"], signed_consultation.pk)
    path = tmp_path / "sealed.pdf"
    path.write_bytes(content)
    return path


def test_sealing_leaves_no_font_file_open(signed_consultation, demo):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        issue_copy(demo["citizen"], signed_consultation.pk, language="ru")
        gc.collect()

    unclosed = [str(w.message) for w in caught if ".ttf" in str(w.message)]
    assert unclosed == []


def verify(path, *args) -> tuple[bool, dict]:
    """Run `protokol verify --json PATH`; return whether it passed and the report."""
    output = io.StringIO()
    try:
        call_command("verify", str(path), "--json", *args, stdout=output)
        passed = True
    except CommandError:
        passed = False
    return passed, json.loads(output.getvalue())


def failed_checks(report: dict) -> dict[str, str]:
    return {
        check["name"]: check["detail"] for check in report["checks"] if not check["ok"]
    }


def pdfsig_sections(path) -> list[str]:
    """Return pdfsig's report, one section per signature."""
    result = run_tool("pdfsig", path)
    return result.stdout.split("Signature #")[1:]


def test_sealed_copy_passes_pdfsig(sealed):
    seal, timestamp = pdfsig_sections(sealed)

    assert "Signature Field Name: OrganisationSeal" in seal
    assert "Signature Type: ETSI.CAdES.detached" in seal
    assert "Signature is Valid." in seal
    # The DSS and the document timestamp follow the seal's revision.
    assert "Not total document signed" in seal
    assert "Signature Field Name: DocumentTimestamp" in timestamp
    assert "Total document signed" in timestamp
    assert "Not total document signed" not in timestamp


# What poppler 22.12 (Debian 12) prints for a document timestamp: it checks
# only the adbe.pkcs7.sha1, adbe.pkcs7.detached and ETSI.CAdES.detached
# SubFilters, so an ETSI.RFC3161 one is left unchecked.
PDFSIG_TIMESTAMP_LINES = (
    "  - Signature Type: unknown",
    "  - Signature Validation: Signature has not yet been verified.",
)
PDFSIG_TIMESTAMP_ERROR = (
    "Unimplemented Feature (0): Unable to validate this type of signature"
)


def test_pdfsig_leaves_timestamp_unchecked(sealed):
    version = run_tool("pdfsig", "-v").stderr.splitlines()[0]
    result = run_tool("pdfsig", sealed)
    _, timestamp = pdfsig_sections(sealed)

    # NOTE: when this fails after a poppler upgrade, check whether pdfsig now
    # validates ETSI.RFC3161 timestamps, then assert "Signature is Valid." here
    # and update the poppler note in docs/copies.md.
    for line in PDFSIG_TIMESTAMP_LINES:
        assert line in timestamp.splitlines(), (version, timestamp)
    assert PDFSIG_TIMESTAMP_ERROR in result.stderr, (version, result.stderr)
    assert result.returncode == 0


def test_document_timestamp_passes_openssl(sealed, tmp_path):
    from pyhanko.pdf_utils.reader import PdfFileReader

    from protokol.signing import pki

    content = sealed.read_bytes()
    with sealed.open("rb") as handle:
        timestamp = PdfFileReader(handle).embedded_timestamp_signatures[-1]
        start, length, resume, rest = timestamp.sig_object["/ByteRange"]
        token = bytes(timestamp.sig_object["/Contents"])
    signed = tmp_path / "signed-ranges.bin"
    signed.write_bytes(
        content[start : start + length] + content[resume : resume + rest]
    )
    token_path = tmp_path / "timestamp.der"
    token_path.write_bytes(token)

    result = openssl(
        "ts", "-verify", "-data", signed, "-in", token_path, "-token_in",
        "-CAfile", pki.pki_dir() / "root.pem", "-untrusted", pki.pki_dir() / "tsa.pem",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert b"Verification: OK" in result.stdout


def test_sealed_copy_passes_qpdf_check(sealed):
    result = run_tool("qpdf", "--check", sealed)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "No syntax or stream encoding errors found" in result.stdout


def test_sealed_copy_embeds_the_signed_files(sealed, signed_consultation, tmp_path):
    listing = run_tool("pdfdetach", "-list", sealed)
    assert listing.returncode == 0, listing.stderr
    names = {line.split(": ", 1)[1] for line in listing.stdout.splitlines()[1:]}
    seal = Signature.objects.get(consultation=signed_consultation, kind="seal")
    assert names == EMBEDDED | {f"protocol.seal-{seal.pk}.p7s"}

    out = tmp_path / "detached"
    out.mkdir()
    result = run_tool("pdfdetach", "-saveall", "-o", out, sealed)
    assert result.returncode == 0, result.stderr
    assert (out / "protocol.json").read_bytes() == bytes(seal.document)
    assert (out / f"protocol.seal-{seal.pk}.p7s").read_bytes() == bytes(seal.cms)
    proof = (out / "journal-entry.tlog-proof").read_text()
    assert proof.startswith("c2sp.org/tlog-proof@v1\nindex ")


def test_sealed_copy_files_listed_once(sealed, signed_consultation):
    import pikepdf

    from protokol.documents.pades import PRODUCER
    from protokol.documents.services import signed_evidence

    expected = {
        item.name: "/" + item.media_type
        for item in signed_evidence(signed_consultation).files
    }
    with pikepdf.open(sealed) as pdf:
        listed = [spec.objgen for spec in pdf.Root.AF]
        media_types = {str(spec.UF): str(spec.EF.F.Subtype) for spec in pdf.Root.AF}
        info_producer = str(pdf.docinfo.Producer)
        with pdf.open_metadata(
            set_pikepdf_as_editor=False, update_docinfo=False
        ) as metadata:
            xmp_producer = metadata["pdf:Producer"]

    assert len(listed) == len(expected)
    assert len(set(listed)) == len(listed)
    assert media_types == expected
    assert info_producer == PRODUCER
    assert xmp_producer == PRODUCER


def test_signed_evidence_query_count(signed_consultation, django_assert_num_queries):
    from protokol.documents.services import signed_evidence

    # The first call issues the checkpoint that covers the signing entry,
    # and the CRL when this session has none yet.
    first = signed_evidence(signed_consultation)

    # Signatures, journal entries with their payloads, the latest checkpoint
    # and the proof's Merkle nodes.
    with django_assert_num_queries(4):
        again = signed_evidence(signed_consultation)

    assert again == first
    assert again.journal_facts is not None


def test_sealed_copy_text_and_code(sealed, signed_consultation):
    text = pdf_text(sealed)
    assert "без электронной подписи" not in text
    seal = Signature.objects.get(consultation=signed_consultation, kind="seal")

    assert contains_words(text, CITIZEN_MESSAGE)
    assert contains_words(text, OPERATOR_ANSWER)
    assert contains_words(text, DECISION)
    assert contains_words(text, "Подписано электронной печатью")
    code = verification_code(bytes(seal.document))
    assert contains_words(text, f"Код проверки: {code}")


def test_sealed_copy_prints_signatures_and_journal(sealed, signed_consultation, demo):
    text = pdf_text(sealed)
    flat = " ".join(text.split())
    signatures = Signature.objects.filter(consultation=signed_consultation)
    inclusion = signature_reports(signed_consultation)[-1].inclusion

    assert contains_words(text, "Подписи")
    for signature in signatures.exclude(kind="acknowledgement"):
        assert contains_words(text, signature.signer_name)
        # Serials and the root may break anywhere, so spaces are dropped.
        assert signature.certificate_serial in "".join(text.split())
        stamped = signature.timestamp_time.astimezone(DISPLAY_ZONE)
        assert contains_words(text, stamped.strftime("%d.%m.%Y %H:%M МСК"))
    assert "Владелец сертификата" in flat
    assert contains_words(text, f"Запись журнала {inclusion.index}")
    assert contains_words(text, f"размер дерева {inclusion.checkpoint_size}")
    assert inclusion.root in "".join(text.split())
    # Participants and the status history with actors come before the block,
    # and addenda after it (test_pdf.py checks their order against the protocol).
    assert contains_words(text, f"Заявитель {demo['citizen'].get_full_name()}")
    assert flat.index("История статусов") < flat.index("Подписи")
    assert contains_words(text, "из «согласована» в «подписана»")


def test_verify_passes_sealed_copy(sealed):
    passed, report = verify(sealed)

    assert passed, failed_checks(report)
    names = [check["name"] for check in report["checks"]]
    assert names[:3] == [
        "OrganisationSeal",
        "OrganisationSeal:B-LTA",
        "DocumentTimestamp",
    ]
    assert "pdfa:identification" in names
    assert "pdfa:associated-files" in names
    assert "journal-entry.tlog-proof" in names


def test_verify_text_report(sealed):
    output = io.StringIO()
    call_command("verify", str(sealed), stdout=output)

    lines = output.getvalue().splitlines()
    assert lines and all(line.startswith("PASS ") for line in lines)


def test_flipped_byte_fails(sealed):
    data = bytearray(sealed.read_bytes())
    # The binary comment on the second line is inside the first signed range
    # and changes nothing else, so the PDF still parses.
    assert data[9:10] == b"%"
    data[11] ^= 0x01
    sealed.write_bytes(bytes(data))

    passed, report = verify(sealed)
    assert not passed
    failures = failed_checks(report)
    assert "the signed bytes were changed" in failures["OrganisationSeal"]
    assert "the signed bytes were changed" in failures["DocumentTimestamp"]
    # The root is right, so the report must not blame the chain.
    assert "does not chain to the root" not in failures["OrganisationSeal"]
    assert "does not chain to the root" not in failures["DocumentTimestamp"]
    seal, timestamp = pdfsig_sections(sealed)
    assert "Signature is Valid." not in seal


def append_update(path, change) -> None:
    """Append an incremental update made by `change(writer)` to the PDF."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    buffer = io.BytesIO(path.read_bytes())
    writer = IncrementalPdfFileWriter(buffer, strict=False)
    change(writer)
    writer.write_in_place()
    path.write_bytes(buffer.getvalue())


def test_overlaid_text_fails(sealed):
    from pyhanko.pdf_utils import generic

    def overlay(writer):
        font = writer.add_object(
            generic.DictionaryObject(
                {
                    generic.pdf_name("/Type"): generic.pdf_name("/Font"),
                    generic.pdf_name("/Subtype"): generic.pdf_name("/Type1"),
                    generic.pdf_name("/BaseFont"): generic.pdf_name("/Helvetica"),
                }
            )
        )
        stream = writer.add_object(
            generic.StreamObject(
                stream_data=b"BT /Forged 8 Tf 200 815 Td (Refund approved) Tj ET"
            )
        )
        resources = generic.DictionaryObject(
            {
                generic.pdf_name("/Font"): generic.DictionaryObject(
                    {generic.pdf_name("/Forged"): font}
                )
            }
        )
        writer.add_stream_to_page(0, stream, resources=resources)

    append_update(sealed, overlay)
    assert "Refund approved" in pdf_text(sealed)

    passed, report = verify(sealed)
    assert not passed
    failures = failed_checks(report)
    assert "a later update changed the document" in failures["DocumentTimestamp"]
    assert "a later update changed the document" in failures["OrganisationSeal"]
    # pdfsig still calls the seal valid (it has no difference analysis), but
    # the last timestamp no longer covers the whole file.
    seal, timestamp = pdfsig_sections(sealed)
    assert "Not total document signed" in timestamp


def test_title_changed_after_seal_fails(sealed):
    from pyhanko.pdf_utils import generic

    def retitle(writer):
        info = writer.trailer["/Info"].get_object()
        info[generic.pdf_name("/Title")] = generic.TextStringObject(
            "Протокол консультации КП-2026-999999"
        )
        writer.update_container(info)

    append_update(sealed, retitle)

    passed, report = verify(sealed)
    assert not passed
    failures = failed_checks(report)
    assert "/Title" in failures["metadata-after-signing"]
    assert "Title" in failures["pdfa:metadata"]


def test_title_changed_in_info_and_xmp_fails(sealed):
    def retitle(writer):
        writer.document_meta.title = "Протокол консультации КП-2026-999999"

    append_update(sealed, retitle)

    passed, report = verify(sealed)
    assert not passed
    failures = failed_checks(report)
    assert "pdfa:metadata" not in failures
    changed = failures["metadata-after-signing"]
    assert "/Title" in changed
    assert "{http://purl.org/dc/elements/1.1/}title" in changed


def test_replaced_embedded_json_fails(sealed, tmp_path):
    from pyhanko.pdf_utils import generic

    forged = json.dumps({"format": "protokol.protocol/v1", "forged": True}).encode()

    def replace(writer):
        names = writer.root["/Names"]["/EmbeddedFiles"]["/Names"]
        position = next(
            index
            for index in range(0, len(names), 2)
            if str(names[index]) == "protocol.json"
        )
        spec = names[position + 1]
        stream = writer.add_object(
            generic.StreamObject(
                {
                    generic.pdf_name("/Type"): generic.pdf_name("/EmbeddedFile"),
                    generic.pdf_name("/Subtype"): generic.pdf_name(
                        "/application#2fjson"
                    ),
                },
                stream_data=forged,
            )
        )
        spec["/EF"] = generic.DictionaryObject({generic.pdf_name("/F"): stream})
        writer.update_container(spec)

    append_update(sealed, replace)
    out = tmp_path / "detached"
    out.mkdir()
    run_tool("pdfdetach", "-saveall", "-o", out, sealed)
    assert (out / "protocol.json").read_bytes() == forged

    passed, report = verify(sealed)
    assert not passed
    failures = failed_checks(report)
    assert "a later update changed the document" in failures["DocumentTimestamp"]
    assert "message digest does not match" in " ".join(failures.values())
    assert "journal-entry.tlog-proof" in failures
    seal, timestamp = pdfsig_sections(sealed)
    assert "Not total document signed" in timestamp


def test_bytes_appended_after_seal_fail(sealed):
    import zipfile

    # A zip archive after %%EOF makes the copy a PDF and a zip at once, and
    # no signature covers it.
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as writer:
        writer.writestr("payload.txt", "appended after signing")
    appended = archive.getvalue()
    sealed.write_bytes(sealed.read_bytes() + appended)

    passed, report = verify(sealed)
    assert not passed
    failures = failed_checks(report)
    assert f"{len(appended)} bytes at the end" in failures["unsigned-bytes"]
    seal, timestamp = pdfsig_sections(sealed)
    assert "Not total document signed" in timestamp


def test_unsigned_bytes_check_passes(sealed):
    passed, report = verify(sealed)
    assert passed
    checks = {check["name"]: check for check in report["checks"]}
    assert checks["unsigned-bytes"]["ok"]


@pytest.mark.parametrize(
    "byte_range", [b"[0 56054]", b"[/A /B /C /D]", b"5", b"[0 1 2 (x)]"]
)
def test_malformed_byte_range_fails(sealed, byte_range):
    import re

    data = sealed.read_bytes()
    match = re.search(rb"/ByteRange\s*\[[^\]]*\]", data)
    # The replacement is padded to the same length, so later offsets stay valid.
    replacement = b"/ByteRange " + byte_range
    replacement = replacement.ljust(len(match[0]))
    sealed.write_bytes(data[: match.start()] + replacement + data[match.end() :])

    passed, report = verify(sealed)
    assert not passed
    failures = failed_checks(report)
    assert "no valid /ByteRange" in failures["metadata-after-signing"]


def add_attachment_update(path, name: str, data: bytes) -> None:
    """Append an update that embeds `data`, Flate-compressed, as file `name`."""
    import pikepdf

    with pikepdf.open(io.BytesIO(path.read_bytes())) as pdf:
        pdf.attachments[name] = pikepdf.AttachedFileSpec(pdf, data)
        pdf.save(path, compress_streams=True)


def test_verify_rejects_decompression_bomb(sealed, monkeypatch):
    from protokol.documents import pdfcheck

    # 4 MiB of zeros compress to about 4 KiB.
    monkeypatch.setattr(pdfcheck, "MAX_EVIDENCE_BYTES", 1024 * 1024)
    add_attachment_update(sealed, "protocol.json", bytes(4 * 1024 * 1024))

    passed, report = verify(sealed)
    assert not passed
    detail = failed_checks(report)["embedded-files"]
    assert "decode to more than 1048576 bytes together, at protocol.json" in detail


def test_verify_reads_only_evidence_files(sealed):
    import pikepdf

    from protokol.documents.pdfcheck import embedded_files

    add_attachment_update(sealed, "attachment-1-zeros.bin", bytes(1024))

    with pikepdf.open(sealed) as pdf:
        files = embedded_files(pdf)
    assert "attachment-1-zeros.bin" not in files
    assert set(files) >= EMBEDDED


def test_verify_rejects_unsigned_draft(consultation, demo, tmp_path):
    services.transition(demo["operator"], consultation.pk, action="take")
    _, content = issue_copy(demo["citizen"], consultation.pk)
    path = tmp_path / "draft.pdf"
    path.write_bytes(content)

    result = run_tool("pdfsig", path)
    assert "does not contain any signatures" in result.stdout + result.stderr
    passed, report = verify(path)
    assert not passed
    assert failed_checks(report)["signatures"] == "the PDF has no signature"
    assert "Код проверки" not in pdf_text(path)


def test_verify_other_root_fails(sealed, tmp_path):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Other root")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    root = tmp_path / "other-root.pem"
    root.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))

    passed, report = verify(sealed, "--root", str(root))
    assert not passed
    failures = failed_checks(report)
    assert "does not chain to the root" in failures["OrganisationSeal"]


def test_verify_missing_pdf(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("verify", str(tmp_path / "missing.pdf"))


def test_verify_pdf_without_suffix(sealed):
    path = sealed.with_name("sealed")
    sealed.rename(path)

    passed, report = verify(path)
    assert passed, failed_checks(report)


def test_verify_too_large_pdf_names_it(sealed, monkeypatch):
    from protokol.signing.management.commands import verify as command

    monkeypatch.setattr(command, "MAX_PDF_BYTES", 1000)

    with pytest.raises(CommandError) as raised:
        call_command("verify", str(sealed))

    message = str(raised.value)
    assert message == "File sealed.pdf is larger than 1000 bytes."


def test_verify_not_a_pdf(tmp_path):
    path = tmp_path / "text.pdf"
    path.write_bytes(b"not a PDF at all")

    passed, report = verify(path)
    assert not passed
    assert "not a readable PDF" in failed_checks(report)["pdf"]


def test_verify_damaged_pdf_names_no_address(tmp_path):
    path = tmp_path / "damaged.pdf"
    path.write_bytes(b"%PDF-1.7\ngarbage\n")

    passed, report = verify(path)
    assert not passed
    detail = failed_checks(report)["pdf"]
    assert "unable to find trailer dictionary" in detail
    assert "BytesIO" not in detail


def test_rewritten_copy_names_no_address(sealed):
    import pikepdf

    # A full rewrite moves every object, so the signed byte ranges no longer
    # cut out a readable revision.
    with pikepdf.open(io.BytesIO(sealed.read_bytes())) as pdf:
        pdf.save(sealed)

    passed, report = verify(sealed)
    assert not passed
    failures = failed_checks(report)
    assert "metadata-after-signing" in failures
    for name, detail in failures.items():
        assert "BytesIO" not in detail, name
        assert " at 0x" not in detail, name
