"""Checking a sealed protocol copy without the database.

`verify_pdf` checks each PAdES signature and document timestamp with
pyHanko, including its difference analysis of later increments, the
embedded signed document against its CMS signatures and journal proof, and
the PDF/A-3 rules that most often break. It reads no database.
"""

import io
import re
import zlib
from pathlib import Path

from django.utils.translation import gettext, gettext_lazy

from protokol.documents.services import (
    DOCUMENT_FILE,
    ENTRY_FILE,
    JOURNAL_KEY_FILE,
    PROOF_FILE,
)
from protokol.signing.management.commands.verify import Check, verify_bundle

# Names of the copy's associated files in a signed protocol bundle.
BUNDLE_NAMES = {
    DOCUMENT_FILE: "document.json",
    ENTRY_FILE: "entry.json",
    PROOF_FILE: "proof.txt",
    JOURNAL_KEY_FILE: "journal.pub",
}
# The evidence files of a copy take a few kilobytes each, but a small
# compressed stream can decode to gigabytes. No more than this is decoded for
# all of them together.
MAX_EVIDENCE_BYTES = 16 * 1024 * 1024
# pyHanko's reason for rejecting an update can list hundreds of object paths.
MAX_REASON_CHARS = 200
# The prefix of qpdf's messages about an in-memory input, e.g. "stream
# <_io.BytesIO object at 0x7f…>: ".
QPDF_STREAM_NAME = re.compile(r"^stream <[^>]*>: ")
RELATIONSHIPS = {"/Source", "/Data", "/Alternative", "/Supplement", "/Unspecified"}
# Readable names of pyHanko's SignatureCoverageLevel (what a signature
# covers) and ModificationLevel (which later updates it allows).
COVERAGE_NAMES = {
    "ENTIRE_FILE": gettext_lazy("covers the whole file"),
    "ENTIRE_REVISION": gettext_lazy("covers its revision"),
    "CONTIGUOUS_BLOCK_FROM_START": gettext_lazy("covers the start of the file"),
    "UNCLEAR": gettext_lazy("coverage unclear"),
}
LATER_UPDATE_NAMES = {
    "NONE": gettext_lazy("no later updates"),
    "LTA_UPDATES": gettext_lazy("later updates add validation data only"),
    "FORM_FILLING": gettext_lazy("later updates fill in forms"),
    "ANNOTATIONS": gettext_lazy("later updates add annotations"),
    "OTHER": gettext_lazy("later updates change the document"),
}


def verify_pdf(data: bytes, *, root: Path, key: str | None = None) -> list[Check]:
    """Check a sealed copy; it passes when every returned check is ok.

    Args:
        data: the PDF file's bytes.
        root: the trusted root certificate file (PEM or DER).
        key: a checkpoint verifier key or a file with one; else the copy's
            embedded journal.pub, which is only as trustworthy as the copy.
    """
    import pikepdf

    try:
        pdf = pikepdf.open(io.BytesIO(data))
    except pikepdf.PdfError as error:
        message = gettext("the file is not a readable PDF: %(error)s") % {
            "error": _qpdf_reason(error)
        }
        return [Check("pdf", False, message)]
    with pdf:
        try:
            files = embedded_files(pdf)
        except EmbeddedFileInvalid as error:
            files = None
            unreadable = Check("embedded-files", False, str(error))
        checks = pades_checks(data, root)
        checks += pdfa_checks(pdf)
    if files is None:
        return [*checks, unreadable]
    checks += embedded_checks(files, root=root, key=key)
    return checks


class EmbeddedFileInvalid(Exception):
    """An embedded evidence file that cannot be decoded within the limits."""


def _qpdf_reason(error) -> str:
    """Return a qpdf error's message without its input's repr, a process address."""
    return QPDF_STREAM_NAME.sub("", str(error))


def embedded_document(data: bytes) -> bytes | None:
    """Return the signed document embedded in a copy, None if there is none."""
    import pikepdf

    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            return embedded_files(pdf).get(DOCUMENT_FILE)
    except (pikepdf.PdfError, EmbeddedFileInvalid):
        return None


def copy_bundle_files(data: bytes) -> dict[str, bytes]:
    """Return a copy's embedded evidence under the file names of a bundle.

    A PDF that cannot be read, or whose evidence files cannot be decoded,
    gives no files.
    """
    import pikepdf

    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            files = embedded_files(pdf)
    except (pikepdf.PdfError, EmbeddedFileInvalid):
        return {}
    return {BUNDLE_NAMES.get(name, name): content for name, content in files.items()}


def embedded_files(pdf) -> dict[str, bytes]:
    """Return the evidence files embedded in an open pikepdf document by name.

    Only the files that the checks read are decoded: those of BUNDLE_NAMES
    and the .p7s signatures, not the consultation's attachments.

    Raises:
        EmbeddedFileInvalid: one of them does not decode, uses a filter other
            than FlateDecode, or they decode to more than MAX_EVIDENCE_BYTES.
    """
    files = {}
    remaining = MAX_EVIDENCE_BYTES
    for name, attached in pdf.attachments.items():
        if name not in BUNDLE_NAMES and not name.endswith(".p7s"):
            continue
        content = _decode_bounded(name, attached.get_file().obj, remaining)
        remaining -= len(content)
        files[name] = content
    return files


def _decode_bounded(name: str, stream, limit: int) -> bytes:
    """Return the decoded bytes of an embedded file's stream, at most `limit`."""
    import pikepdf

    filters = stream.get("/Filter")
    if isinstance(filters, pikepdf.Array) and len(filters) == 1:
        filters = filters[0]
    raw = stream.read_raw_bytes()
    if filters is None:
        content = raw
    elif filters == pikepdf.Name.FlateDecode and "/DecodeParms" not in stream:
        try:
            content = zlib.decompressobj().decompress(raw, limit + 1)
        except zlib.error as error:
            raise EmbeddedFileInvalid(
                gettext("embedded file %(name)s does not decode: %(error)s")
                % {"name": name, "error": error}
            ) from error
    else:
        raise EmbeddedFileInvalid(
            gettext(
                "embedded file %(name)s uses the filter %(filter)s; only "
                "FlateDecode without parameters is read"
            )
            % {"name": name, "filter": filters}
        )
    if len(content) > limit:
        raise EmbeddedFileInvalid(
            gettext(
                "the embedded evidence files decode to more than %(limit)d bytes "
                "together, at %(name)s"
            )
            % {"limit": MAX_EVIDENCE_BYTES, "name": name}
        )
    return content


def embedded_checks(files: dict[str, bytes], *, root: Path, key) -> list[Check]:
    """Check the embedded signed document, its CMS signatures and journal proof."""
    if DOCUMENT_FILE not in files:
        message = gettext("the copy has no embedded %(name)s") % {"name": DOCUMENT_FILE}
        return [Check(DOCUMENT_FILE, False, message)]
    bundle = {
        BUNDLE_NAMES.get(name, name): content
        for name, content in files.items()
        if name in BUNDLE_NAMES or name.endswith(".p7s")
    }
    checks = [
        Check(_embedded_name(check.name), check.ok, _embedded_names(check.detail))
        for check in verify_bundle(bundle, root=root, key=key)
    ]
    if PROOF_FILE not in files:
        # A bundle without a proof skips the journal; a sealed copy has one.
        message = gettext("the copy has no embedded %(name)s") % {"name": PROOF_FILE}
        checks = [check for check in checks if check.name != PROOF_FILE]
        checks.append(Check(PROOF_FILE, False, message))
    return checks


def _embedded_name(name: str) -> str:
    return _EMBEDDED_NAMES.get(name, name)


def _embedded_names(detail: str) -> str:
    """Return a bundle check's detail with the file names as the copy embeds them."""
    return _BUNDLE_NAME_PATTERN.sub(lambda match: _EMBEDDED_NAMES[match[0]], detail)


_EMBEDDED_NAMES = {bundle: embedded for embedded, bundle in BUNDLE_NAMES.items()}
# A bundle name as a whole word: "entry.json" but not inside "journal-entry.json".
_BUNDLE_NAMES_ALTERNATIVES = "|".join(map(re.escape, _EMBEDDED_NAMES))
_BUNDLE_NAME_PATTERN = re.compile(
    rf"(?<![\w.-])(?:{_BUNDLE_NAMES_ALTERNATIVES})(?![\w-]|\.\w)"
)


def pades_checks(data: bytes, root: Path) -> list[Check]:
    """Validate every signature and document timestamp of the PDF with pyHanko."""
    from pyhanko.pdf_utils.misc import PdfReadError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.diff_analysis import ModificationLevel
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    from protokol.documents.pades import to_asn1
    from protokol.signing.management.commands.verify import _load_certificate

    try:
        trust_root = to_asn1(_load_certificate(root.read_bytes()))
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = reader.embedded_signatures
    except (OSError, ValueError, PdfReadError) as error:
        return [Check("signatures", False, str(error))]
    if not signatures:
        return [Check("signatures", False, gettext("the PDF has no signature"))]

    checks = []
    allowed = {ModificationLevel.NONE, ModificationLevel.LTA_UPDATES}
    for signature in signatures:
        name = signature.field_name
        # Revocation data is embedded in the document security store.
        context = ValidationContext(trust_roots=[trust_root], allow_fetching=False)
        try:
            if signature.sig_object_type == "/DocTimeStamp":
                status = validate_pdf_timestamp(signature, validation_context=context)
            else:
                status = validate_pdf_signature(
                    signature,
                    signer_validation_context=context,
                    ts_validation_context=context,
                )
        except Exception as error:  # noqa: BLE001 - pyHanko raises many kinds
            checks.append(Check(name, False, _library_reason(str(error))))
            continue

        problems = []
        if not status.intact:
            problems.append(gettext("the signed bytes were changed"))
        if not status.valid:
            problems.append(gettext("the signature value does not verify"))
        # pyHanko's `trusted` is also false for changed bytes or a bad value,
        # which the lines above already name.
        if status.intact and status.valid and not status.trusted:
            problems.append(gettext("the certificate does not chain to the root"))
        coverage = status.coverage
        if coverage not in (
            SignatureCoverageLevel.ENTIRE_FILE,
            SignatureCoverageLevel.ENTIRE_REVISION,
        ):
            problems.append(gettext("the signature does not cover its revision"))
        level = status.modification_level
        if level is not None and level not in allowed:
            problems.append(
                gettext("a later update changed the document (%(level)s)")
                % {"level": level.name}
            )
            if isinstance(status.diff_result, Exception):
                problems.append(_library_reason(str(status.diff_result)))
        if status.docmdp_ok is False:
            problems.append(gettext("a later update is not allowed by the signature"))
        kind = (
            gettext("document timestamp")
            if signature.sig_object_type == "/DocTimeStamp"
            else gettext("signature")
        )
        detail = _status_detail(kind, status)
        if problems:
            detail += "; " + "; ".join(problems)
        checks.append(Check(name, not problems, detail))
        if signature.sig_object_type != "/DocTimeStamp":
            checks.append(_lta_check(signature, trust_root))
    checks.append(_unsigned_bytes(data, signatures))
    checks.append(_metadata_after_signing(data, signatures))
    return checks


def _library_reason(message: str) -> str:
    """Return the first line of a pyHanko message, quoted as pyHanko's.

    pyHanko's messages are in English only, so a report in another language
    quotes them rather than presenting them as its own text.
    """
    lines = message.splitlines()
    first_line = lines[0][:MAX_REASON_CHARS] if lines else ""
    return gettext('pyHanko reports: "%(message)s"') % {"message": first_line}


def _unsigned_bytes(data: bytes, signatures) -> Check:
    """Check that the last signature or document timestamp ends the file.

    pyHanko 0.38 calls the last signature's coverage "its revision" when bytes
    that form no revision follow it, such as a zip archive appended after
    %%EOF, and its difference analysis reports no update. pdfsig reports the
    same file as "Not total document signed".
    """
    # A malformed /ByteRange fails the signature's own check as unclear coverage.
    ends = [_signed_end(item) for item in signatures]
    signed_end = max((end for end in ends if end is not None), default=0)
    unsigned = len(data) - signed_end
    if unsigned <= 0:
        return Check("unsigned-bytes", True, gettext("passed"))
    return Check(
        "unsigned-bytes",
        False,
        gettext(
            "%(count)d bytes at the end of the file are covered by no signature "
            "or document timestamp"
        )
        % {"count": unsigned},
    )


def _signed_end(signature) -> int | None:
    """Return the offset after a signature's last signed byte.

    Returns None unless its /ByteRange is an array of four integers.
    """
    byte_range = signature.sig_object.get("/ByteRange")
    if not isinstance(byte_range, list) or len(byte_range) != 4:
        return None
    if not all(isinstance(value, int) for value in byte_range):
        return None
    return byte_range[2] + byte_range[3]


# Metadata that a later document timestamp or validation data update may
# change: pyHanko 0.38 sets the modification dates and its own Producer.
VOLATILE_INFO = {"/ModDate", "/Producer"}
VOLATILE_XMP = {
    "{http://ns.adobe.com/xap/1.0/}ModifyDate",
    "{http://ns.adobe.com/xap/1.0/}MetadataDate",
    "{http://ns.adobe.com/pdf/1.3/}Producer",
}


def _metadata_after_signing(data: bytes, signatures) -> Check:
    """Check that no update after the last signature changed the metadata.

    pyHanko's difference analysis accepts any change of the Info dictionary
    and the XMP stream in an update after a signature, so a later title or
    author would pass it. The metadata of the revision that the last
    signature covers is compared with the file's, except VOLATILE_INFO and
    VOLATILE_XMP.
    """
    import pikepdf

    signed = [item for item in signatures if item.sig_object_type != "/DocTimeStamp"]
    if not signed:
        return Check("metadata-after-signing", True, gettext("passed"))
    signed_end = _signed_end(signed[-1])
    if signed_end is None:
        return Check(
            "metadata-after-signing",
            False,
            gettext("the last signature %(name)s has no valid /ByteRange")
            % {"name": signed[-1].field_name},
        )
    try:
        before = _metadata(data[:signed_end])
        after = _metadata(data)
    except pikepdf.PdfError as error:
        return Check("metadata-after-signing", False, _qpdf_reason(error))

    changed = sorted(
        key
        for key in before.keys() | after.keys()
        if key not in VOLATILE_INFO | VOLATILE_XMP and before.get(key) != after.get(key)
    )
    if not changed:
        return Check("metadata-after-signing", True, gettext("passed"))
    return Check(
        "metadata-after-signing",
        False,
        gettext("an update after the last signature changed %(entries)s")
        % {"entries": ", ".join(changed)},
    )


def _metadata(data: bytes) -> dict[str, str]:
    """Return the Info entries and the XMP properties of a PDF as text."""
    import pikepdf

    with pikepdf.open(io.BytesIO(data)) as pdf:
        values = {str(key): str(value) for key, value in pdf.docinfo.items()}
        xmp = pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False)
        values.update((str(key), str(xmp[key])) for key in xmp)
    return values


def _lta_check(signature, trust_root) -> Check:
    """Validate a signature as PAdES B-LTA (ETSI EN 319 102-1, section 5.6.3).

    Only the validation data embedded in the document is used, and the
    signing certificate needs a CRL that shows it was not revoked.
    """
    import asyncio

    from pyhanko.sign.ades.report import AdESStatus
    from pyhanko.sign.validation.ades import ades_lta_validation
    from pyhanko.sign.validation.policy_decl import (
        CertificateFetchingRule,
        PdfSignatureValidationSpec,
        RevinfoOnlineFetchingRule,
        RevocationInfoGatheringSpec,
        SignatureValidationSpec,
    )
    from pyhanko_certvalidator.context import CertValidationPolicySpec
    from pyhanko_certvalidator.policy_decl import (
        CertRevTrustPolicy,
        RevocationCheckingPolicy,
        RevocationCheckingRule,
    )
    from pyhanko_certvalidator.registry import SimpleTrustManager

    from protokol.journal.canonical import format_time

    required = RevocationCheckingRule.CRL_REQUIRED
    policy = CertValidationPolicySpec(
        trust_manager=SimpleTrustManager.build(trust_roots=[trust_root]),
        revinfo_policy=CertRevTrustPolicy(
            RevocationCheckingPolicy(
                ee_certificate_rule=required, intermediate_ca_cert_rule=required
            )
        ),
    )
    spec = PdfSignatureValidationSpec(
        SignatureValidationSpec(
            cert_validation_policy=policy,
            revinfo_gathering_policy=RevocationInfoGatheringSpec(
                online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY,
                certificate_fetching_rule=CertificateFetchingRule.NEVER_FETCH,
            ),
        )
    )
    name = f"{signature.field_name}:B-LTA"
    try:
        result = asyncio.run(ades_lta_validation(signature, spec))
    except Exception as error:  # noqa: BLE001 - pyHanko raises many kinds
        return Check(name, False, _library_reason(str(error)))
    indication = result.ades_subindic
    if indication.status != AdESStatus.PASSED:
        message = gettext("AdES validation is %(status)s: %(indication)s") % {
            "status": indication.status.name,
            "indication": indication.standard_name,
        }
        return Check(name, False, message)
    oldest = result.oldest_evidence_record_timestamp
    detail = gettext("AdES LTA validation passed, archived since %(time)s") % {
        "time": format_time(oldest) if oldest else "-"
    }
    return Check(name, True, detail)


def _status_detail(kind: str, status) -> str:
    from protokol.journal.canonical import format_time

    parts = [kind]
    signer = getattr(status, "signing_cert", None)
    if signer is not None:
        parts.append(_subject(signer))
    timestamp = getattr(status, "timestamp_validity", None)
    time = timestamp.timestamp if timestamp is not None else None
    if time is None:
        time = getattr(status, "timestamp", None)
    if time is not None:
        parts.append(gettext("timestamp %(time)s") % {"time": format_time(time)})
    parts.append(str(COVERAGE_NAMES.get(status.coverage.name, status.coverage.name)))
    if status.modification_level is not None:
        level = status.modification_level.name
        parts.append(str(LATER_UPDATE_NAMES.get(level, level)))
    return ", ".join(parts)


def _subject(certificate) -> str:
    """Return an asn1crypto certificate's subject as RFC 4514, like bundle reports."""
    from cryptography import x509

    return x509.load_der_x509_certificate(certificate.dump()).subject.rfc4514_string()


def pdfa_checks(pdf) -> list[Check]:
    """Check the PDF/A-3 rules that most often fail, one check per rule."""
    return [
        _check("pdfa:identification", _identification(pdf)),
        _check("pdfa:metadata", _metadata_agrees(pdf)),
        _check("pdfa:output-intent", _output_intent(pdf)),
        _check("pdfa:fonts", _fonts_embedded(pdf)),
        _check("pdfa:trailer-id", _trailer_id(pdf)),
        _check("pdfa:no-encryption", _no_encryption(pdf)),
        _check("pdfa:no-javascript", _no_javascript(pdf)),
        _check("pdfa:annotations", _annotation_flags(pdf)),
        _check("pdfa:associated-files", _associated_files(pdf)),
    ]


def _check(name: str, problems: list[str]) -> Check:
    return Check(name, not problems, "; ".join(problems) or gettext("passed"))


def _identification(pdf) -> list[str]:
    meta = pdf.open_metadata()
    part, conformance = meta.get("pdfaid:part"), meta.get("pdfaid:conformance")
    if part != "3" or conformance not in ("A", "B", "U"):
        return [
            gettext("XMP pdfaid is part %(part)s conformance %(conformance)s")
            % {"part": part, "conformance": conformance}
        ]
    return []


# Info entries and the XMP properties that PDF/A requires to be equal, for
# the entries that a copy has as plain text.
INFO_XMP_PAIRS = (
    ("/Producer", "pdf:Producer"),
    ("/Title", "dc:title"),
    ("/Creator", "xmp:CreatorTool"),
)


def _metadata_agrees(pdf) -> list[str]:
    meta = pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False)
    problems = []
    for info_key, xmp_key in INFO_XMP_PAIRS:
        info_value = str(pdf.docinfo.get(info_key, ""))
        xmp_value = str(meta.get(xmp_key) or "")
        if info_value != xmp_value:
            problems.append(
                gettext("Info %(key)s %(info)r differs from XMP %(xmp)r")
                % {"key": info_key[1:], "info": info_value, "xmp": xmp_value}
            )
    return problems


def _output_intent(pdf) -> list[str]:
    for intent in pdf.Root.get("/OutputIntents", []):
        profile = intent.get("/DestOutputProfile")
        has_profile = profile is not None and profile.get("/N") in (1, 3, 4)
        if intent.get("/S") == "/GTS_PDFA1" and has_profile:
            return []
    return [gettext("no GTS_PDFA1 output intent with an ICC profile")]


def _fonts(resources, seen: set):
    """Yield every font dictionary reachable from a resources dictionary."""
    if resources is None or resources.objgen in seen and resources.objgen != (0, 0):
        return
    seen.add(resources.objgen)
    yield from (resources.get("/Font") or {}).values()
    for xobject in (resources.get("/XObject") or {}).values():
        if xobject.get("/Subtype") == "/Form":
            yield from _fonts(xobject.get("/Resources"), seen)


def _all_resources(pdf):
    for page in pdf.pages:
        yield page.obj.get("/Resources")
        for annotation in page.obj.get("/Annots") or []:
            appearance = annotation.get("/AP")
            if appearance is None:
                continue
            for stream in appearance.values():
                if hasattr(stream, "get") and stream.get("/Resources") is not None:
                    yield stream.get("/Resources")


def _fonts_embedded(pdf) -> list[str]:
    problems, seen = [], set()
    for resources in _all_resources(pdf):
        for font in _fonts(resources, seen):
            descendant = font
            if font.get("/Subtype") == "/Type0":
                descendant = font.DescendantFonts[0]
            if font.get("/Subtype") == "/Type3":
                continue
            descriptor = descendant.get("/FontDescriptor")
            embedded = descriptor is not None and any(
                key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")
            )
            if not embedded:
                problems.append(
                    gettext("font %(name)s is not embedded")
                    % {"name": font.get("/BaseFont")}
                )
    return sorted(set(problems))


def _trailer_id(pdf) -> list[str]:
    identifier = pdf.trailer.get("/ID")
    if identifier is None or len(identifier) != 2:
        return [gettext("the trailer has no /ID of two strings")]
    return []


def _no_encryption(pdf) -> list[str]:
    if pdf.is_encrypted or "/Encrypt" in pdf.trailer:
        return [gettext("the PDF is encrypted")]
    return []


def _no_javascript(pdf) -> list[str]:
    import pikepdf

    names = pdf.Root.get("/Names")
    if names is not None and "/JavaScript" in names:
        return [gettext("the name tree has JavaScript")]
    for item in pdf.objects:
        is_dictionary = isinstance(item, pikepdf.Dictionary | pikepdf.Stream)
        if is_dictionary and ("/JS" in item or item.get("/S") == "/JavaScript"):
            return [
                gettext("object %(id)s is a JavaScript action") % {"id": item.objgen[0]}
            ]
    return []


def _annotation_flags(pdf) -> list[str]:
    problems = []
    for number, page in enumerate(pdf.pages, start=1):
        for annotation in page.obj.get("/Annots") or []:
            flags = int(annotation.get("/F", 0))
            # PDF/A: Print set; Invisible, Hidden and NoView clear.
            if not flags & 4 or flags & (1 | 2 | 32):
                problems.append(
                    gettext("an annotation on page %(page)s has flags %(flags)s")
                    % {"page": number, "flags": flags}
                )
    return problems


def _associated_files(pdf) -> list[str]:
    problems = []
    listed = {spec.objgen for spec in pdf.Root.get("/AF") or []}
    for name, attached in pdf.attachments.items():
        spec = attached.obj
        relationship = spec.get("/AFRelationship")
        if relationship not in RELATIONSHIPS:
            problems.append(
                gettext("%(name)s has no valid AFRelationship") % {"name": name}
            )
        if spec.objgen not in listed:
            problems.append(gettext("%(name)s is not listed in /AF") % {"name": name})
        stream = spec.EF.F
        if "/Subtype" not in stream or "/ModDate" not in (stream.get("/Params") or {}):
            problems.append(
                gettext("%(name)s has no media type or modification date")
                % {"name": name}
            )
    return problems
