"""PAdES B-LTA signatures on protocol copies with the organisation seal.

The copy is signed in two incremental updates, each keeping the PDF/A-3b
identification and the trailer /ID:

1. the seal's signature (PAdES B-T): CAdES signed attributes, the signature
   timestamp from the built-in TSA, and a visible stamp on the last page;
2. the document security store (B-LT): the certificates, a CRL of the
   installation and OCSP responses about the seal and the TSA certificates,
   all issued after that timestamp, and in the same update a document
   timestamp (B-LTA) over the whole file, the DSS included.
"""

import asyncio
import functools
import hashlib
import io
import os
import threading
from pathlib import Path

import structlog
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.opentype import (
    CIDFontType2,
    GlyphAccumulator,
    GlyphAccumulatorFactory,
)
from pyhanko.pdf_utils.metadata.model import VENDOR

from protokol.signing import crl, ocsp, pki, tsa
from protokol.signing.signers import seal_pdf_signer

log = structlog.get_logger(__name__)

SEAL_FIELD = "OrganisationSeal"
# Signing writes pyHanko's name into the XMP pdf:Producer, so a copy to be
# sealed is rendered with it as Info /Producer and XMP pdf:Producer.
PRODUCER = VENDOR
TIMESTAMP_FIELD = "DocumentTimestamp"
DIGEST_ALGORITHM = "sha256"


def to_asn1(certificate) -> asn1_x509.Certificate:
    """Return a cryptography certificate as an asn1crypto one."""
    return asn1_x509.Certificate.load(
        certificate.public_bytes(serialization.Encoding.DER)
    )


# Room for the DER CMS in /Contents. Reserving it saves pyHanko a trial
# signature, with its timestamp, to estimate the size. The seal's CMS with
# the signature timestamp and both chains was about 10 KB, the document
# timestamp about 5 KB.
SEAL_BYTES_RESERVED = 16 * 1024
# The seal's CMS made with pyHanko's PKCS11Signer on a SoftHSM2 token needed
# 16,626 bytes, more than with the key file, so it gets more room.
TOKEN_SEAL_BYTES_RESERVED = 24 * 1024
TIMESTAMP_BYTES_RESERVED = 8 * 1024


def to_asn1_crl(revocations) -> asn1_crl.CertificateList:
    """Return a cryptography CRL as an asn1crypto one."""
    return asn1_crl.CertificateList.load(
        revocations.public_bytes(serialization.Encoding.DER)
    )


def ocsp_response(certificate) -> asn1_ocsp.OCSPResponse:
    """Return a fresh OCSP response of the PKI about `certificate`, for the DSS."""
    response = ocsp.certificate_response(certificate)
    return asn1_ocsp.OCSPResponse.load(
        response.public_bytes(serialization.Encoding.DER)
    )


# Characters a seal stamp can contain: the organisation's name, the labels
# and the time. Others would be drawn as .notdef, which PDF/A forbids.
STAMP_CHARACTERS = (
    "".join(chr(code) for code in range(0x20, 0x7F))
    + "".join(chr(code) for code in range(0x400, 0x460))
    + "«»—–№“”„’…"
)


def stamp_font_path() -> str:
    """Return PT Sans cut down to the stamp's characters, without layout tables.

    pyHanko parses the font and subsets it for every stamp. On the whole PT
    Sans file, decompiling its GSUB and GPOS tables took most of the 0.3 s
    of CPU that a stamp cost, so the file is cut once and kept under the
    cache directory. The hinting instructions, which a PDF viewer does not
    need, made up 73 KB of the 94 KB cut and doubled its parsing time.
    """
    from fontTools import subset

    from protokol.documents.cache import cache_dir
    from protokol.documents.pdf import FONTS_DIR

    source = FONTS_DIR / "PTS55F.ttf"
    path = cache_dir() / "fonts" / f"stamp-{_stamp_font_digest(source)}.ttf"
    if path.exists():
        return str(path)

    options = subset.Options()
    options.layout_features = []
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "kern"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.hinting = False
    font = subset.load_font(str(source), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=STAMP_CHARACTERS)
    subsetter.subset(font)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    subset.save_font(font, str(temporary), options)
    temporary.replace(path)
    return str(path)


# Part of the cut font's name, so that a cut made with other options is not
# reused.
STAMP_FONT_OPTIONS = b"unhinted"


@functools.cache
def _stamp_font_digest(source: Path) -> str:
    """Return the name part of the cut stamp font for a packaged font file."""
    digest = hashlib.sha256(
        source.read_bytes() + STAMP_CHARACTERS.encode() + STAMP_FONT_OPTIONS
    )
    return digest.hexdigest()[:16]


# Characters of the stamp's time, whose glyphs every stamp font subset gets,
# so that the subset depends only on the stamp text, not on the time.
STAMP_TIME_CHARACTERS = "0123456789"
MAX_STAMP_SUBSETS = 8

_stamp_subsets: dict[tuple, bytes] = {}
_stamp_subsets_lock = threading.Lock()


class StampFontFactory(GlyphAccumulatorFactory):
    """pyHanko's font factory for the stamp, with subsets kept between stamps."""

    def create_font_engine(self, writer, obj_stream=None) -> "StampFont":
        # pyHanko's own method opens the font file and never closes it, so
        # this one reads the font from memory and builds the accumulator.
        wants_stream = writer.stream_xrefs and self.create_objstream_if_needed
        if obj_stream is None and wants_stream:
            obj_stream = writer.prepare_object_stream()
        engine = StampFont(
            writer=writer,
            font_handle=io.BytesIO(_font_bytes(self.font_file)),
            font_size=self.font_size,
            ot_script_tag=self.ot_script_tag,
            ot_language_tag=self.ot_language_tag,
            writing_direction=self.writing_direction,
            bcp47_lang_code=self.bcp47_lang_code,
            obj_stream=obj_stream,
        )
        engine.font_path = self.font_file
        return engine


@functools.cache
def _font_bytes(path: str) -> bytes:
    """Return the contents of a stamp font file, which is named by its digest."""
    return Path(path).read_bytes()


class StampFont(GlyphAccumulator):
    """A glyph accumulator that embeds a subset made once per set of glyphs.

    pyHanko subsets and serialises the font for every stamp with fontTools,
    which took about 60 ms of a 260 ms signature on a loaded 2-core machine.
    Each subset is kept in memory by font file and glyph set. The digits are
    always included, so the stamps of one text share one subset.
    """

    font_path: str

    def _extract_subset(self, options=None) -> None:
        cmap = self.tt.getBestCmap()
        for character in STAMP_TIME_CHARACTERS:
            self._get_cid_and_width(self.tt.getGlyphID(cmap[ord(character)]))

        key = (self.font_path, frozenset(self._glyphs))
        with _stamp_subsets_lock:
            program = _stamp_subsets.get(key)
        if program is None:
            super()._extract_subset(options)
            output = io.BytesIO()
            self.tt.save(output)
            program = output.getvalue()
            with _stamp_subsets_lock:
                if len(_stamp_subsets) >= MAX_STAMP_SUBSETS:
                    _stamp_subsets.clear()
                _stamp_subsets[key] = program
        self.cidfont_obj.__class__ = SubsetFontProgram
        self.cidfont_obj.program = program


class SubsetFontProgram(CIDFontType2):
    """A CIDFontType2 whose font file is a subset serialised beforehand."""

    program: bytes

    def set_font_file(self, writer):
        stream = generic.StreamObject(stream_data=self.program)
        stream.compress()
        reference = writer.add_object(stream)
        self._font_descriptor[generic.pdf_name("/FontFile2")] = reference
        return reference


def sign_copy(
    content: bytes,
    *,
    seal_box: tuple[float, float, float, float] | None,
    stamp_text: str,
    reason: str,
) -> bytes:
    """Return `content` signed with the organisation seal as PAdES B-LTA.

    Args:
        content: a PDF/A-3 copy as render_copy returns it with
            producer=PRODUCER.
        seal_box: (left, bottom, right, top) of the visible stamp on the last
            page, or None for an invisible signature.
        stamp_text: the stamp's text; %(signer)s and %(ts)s are replaced by
            the seal's name and the signing time.
        reason: the /Reason of the signature.

    Raises:
        pki.PkiNotConfigured: the PKI is not initialised.
        tokens.TokenUnavailable: with PROTOKOL_SIGNER_BACKEND=pkcs11, the
            token or the seal's key on it cannot be used.
    """
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.text import TextBoxStyle
    from pyhanko.sign import fields, signers
    from pyhanko.sign.pkcs11 import PKCS11Signer
    from pyhanko.sign.validation.dss import DocumentSecurityStore
    from pyhanko.stamp import TextStampStyle

    timestamper = tsa.timestamper()
    field_spec = None
    if seal_box is not None:
        field_spec = fields.SigFieldSpec(
            sig_field_name=SEAL_FIELD, on_page=-1, box=tuple(round(v) for v in seal_box)
        )
    style = TextStampStyle(
        stamp_text=stamp_text,
        text_box_style=TextBoxStyle(
            font=StampFontFactory(stamp_font_path()),
            font_size=7,
        ),
        border_width=1,
        background=None,
    )
    metadata = signers.PdfSignatureMetadata(
        field_name=SEAL_FIELD,
        md_algorithm=DIGEST_ALGORITHM,
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason,
    )
    signed = io.BytesIO()
    # With the pkcs11 backend the token's session stays open for the whole
    # signature, including the signature timestamp, which the built-in TSA
    # makes in this process.
    with seal_pdf_signer() as signer:
        pdf_signer = signers.PdfSigner(
            metadata,
            signer,
            timestamper=timestamper,
            stamp_style=style,
            new_field_spec=field_spec,
        )
        # NOTE: asyncio.run fails in a thread with a running event loop, so
        # async views must call this through sync_to_async.
        asyncio.run(
            pdf_signer.async_sign_pdf(
                IncrementalPdfFileWriter(io.BytesIO(content), strict=False),
                bytes_reserved=(
                    TOKEN_SEAL_BYTES_RESERVED
                    if isinstance(signer, PKCS11Signer)
                    else SEAL_BYTES_RESERVED
                ),
                output=signed,
            )
        )

    # Revocation data must postdate the signature timestamp for B-LT, so the
    # DSS follows the seal's revision. It contains the TSA's chain too, so the
    # document timestamp needs no DSS update after it. Both go into one
    # incremental update: the timestamp's byte range covers the whole file,
    # the DSS included, and pyHanko parses the signed file only once more.
    writer = IncrementalPdfFileWriter(signed, strict=False)
    leaves = [pki.organisation_identity(stem).certificate for stem in ("seal", "tsa")]
    DocumentSecurityStore.supply_dss_in_writer(
        writer,
        None,
        certs=[
            to_asn1(certificate) for certificate in [pki.root_certificate()] + leaves
        ],
        ocsps=[ocsp_response(certificate) for certificate in leaves],
        crls=[to_asn1_crl(crl.current_crl())],
    )

    output = io.BytesIO()
    stamper = signers.PdfTimeStamper(timestamper, field_name=TIMESTAMP_FIELD)
    asyncio.run(
        stamper.async_timestamp_pdf(
            writer,
            DIGEST_ALGORITHM,
            bytes_reserved=TIMESTAMP_BYTES_RESERVED,
            output=output,
        )
    )
    content = output.getvalue()
    log.info("protocol_copy_sealed", bytes=len(content))
    return content
