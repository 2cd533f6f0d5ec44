"""PAdES B-LTA signatures on protocol copies with the organisation seal.

The copy is signed in three incremental updates, each keeping the PDF/A-3b
identification and the trailer /ID:

1. the seal's signature (PAdES B-T): CAdES signed attributes, the signature
   timestamp from the built-in TSA, and a visible stamp on the last page;
2. the document security store (B-LT): the certificates, a CRL of the
   installation and OCSP responses about the seal and the TSA certificates,
   all issued after that timestamp;
3. a document timestamp (B-LTA) over everything before it.
"""

import asyncio
import hashlib
import io
import os
import threading

import structlog
from asn1crypto import crl as asn1_crl
from asn1crypto import keys
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization

from protokol.signing import crl, ocsp, pki, tsa

log = structlog.get_logger(__name__)

SEAL_FIELD = "OrganisationSeal"
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
TIMESTAMP_BYTES_RESERVED = 8 * 1024

_seal_cache: dict[tuple, object] = {}
_seal_lock = threading.Lock()


def _seal_signer():
    """Return a pyHanko signer with the seal key, decrypted once per key file.

    Decrypting the RSA-3072 key took about 32 ms on a 2-core machine, a
    quarter of the time to sign a copy.
    """
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    identity = pki.organisation_identity("seal")
    cache_key = (str(identity.key_file), identity.key_file.stat().st_mtime_ns)
    with _seal_lock:
        if cache_key not in _seal_cache:
            private_key = identity.load_key()
            key_der = private_key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            _seal_cache.clear()
            _seal_cache[cache_key] = _loaded_key_signer_class()(
                private_key=private_key,
                signing_cert=to_asn1(identity.certificate),
                signing_key=keys.PrivateKeyInfo.load(key_der),
                cert_registry=SimpleCertificateStore.from_certs(
                    [to_asn1(certificate) for certificate in identity.chain]
                ),
            )
        return _seal_cache[cache_key]


def _loaded_key_signer_class():
    """Return a SimpleSigner subclass that signs with an already parsed RSA key.

    pyHanko's SimpleSigner parses the PKCS#8 key again for every signature.
    """
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
    from pyhanko.sign.general import get_pyca_cryptography_hash
    from pyhanko.sign.signers.pdf_cms import SimpleSigner

    class LoadedKeySigner(SimpleSigner):
        def __init__(self, *, private_key, **kwargs):
            super().__init__(**kwargs)
            self.private_key = private_key

        def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
            mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
            if mechanism.signature_algo != "rsassa_pkcs1v15":
                return super().sign_raw(data, digest_algorithm)
            digest = get_pyca_cryptography_hash(digest_algorithm)
            return self.private_key.sign(data, PKCS1v15(), digest)

    return LoadedKeySigner


def validation_context(revocations=None):
    """Return a pyHanko validation context with the installation's root and CRL.

    `revocations` is a cryptography CRL, by default the current one.
    """
    from pyhanko_certvalidator import ValidationContext

    revocations = revocations or crl.current_crl()
    return ValidationContext(
        trust_roots=[to_asn1(pki.root_certificate())],
        crls=[
            asn1_crl.CertificateList.load(
                revocations.public_bytes(serialization.Encoding.DER)
            )
        ],
        allow_fetching=False,
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
    cache directory.
    """
    from fontTools import subset

    from protokol.documents.cache import cache_dir
    from protokol.documents.pdf import FONTS_DIR

    source = FONTS_DIR / "PTS55F.ttf"
    digest = hashlib.sha256(source.read_bytes() + STAMP_CHARACTERS.encode())
    path = cache_dir() / "fonts" / f"stamp-{digest.hexdigest()[:16]}.ttf"
    if path.exists():
        return str(path)

    options = subset.Options()
    options.layout_features = []
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "kern"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    font = subset.load_font(str(source), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=STAMP_CHARACTERS)
    subsetter.subset(font)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    subset.save_font(font, str(temporary), options)
    temporary.replace(path)
    return str(path)


def prepare_copy(content: bytes, media_types: dict[str, str]) -> bytes:
    """Tidy a rendered copy's associated files and metadata before signing.

    WeasyPrint lists each file twice in /AF and guesses media types from file
    names. Both Info /Producer and XMP pdf:Producer become pyHanko's name,
    which is what signing writes into XMP, so the two still agree after
    signing as PDF/A requires.

    Args:
        content: the PDF from render_copy.
        media_types: the media type of each embedded file by name.
    """
    import pikepdf
    from pyhanko.pdf_utils.metadata.model import VENDOR

    with pikepdf.open(io.BytesIO(content)) as pdf:
        specs = []
        for name, attached in pdf.attachments.items():
            spec = attached.obj
            if not spec.is_indirect:
                spec = pdf.make_indirect(spec)
            stream = spec.EF.F
            if name in media_types:
                stream.Subtype = pikepdf.Name("/" + media_types[name])
            specs.append(spec)
        pdf.Root.AF = pikepdf.Array(specs)
        with pdf.open_metadata(
            set_pikepdf_as_editor=False, update_docinfo=False
        ) as meta:
            meta["pdf:Producer"] = VENDOR
        pdf.docinfo.Producer = VENDOR
        output = io.BytesIO()
        pdf.save(output)
    return output.getvalue()


def sign_copy(
    content: bytes,
    *,
    seal_box: tuple[float, float, float, float] | None,
    stamp_text: str,
    reason: str,
) -> bytes:
    """Return `content` signed with the organisation seal as PAdES B-LTA.

    Args:
        content: a PDF/A-3 copy as render_copy returns it.
        seal_box: (left, bottom, right, top) of the visible stamp on the last
            page, or None for an invisible signature.
        stamp_text: the stamp's text; %(signer)s and %(ts)s are replaced by
            the seal's name and the signing time.
        reason: the /Reason of the signature.

    Raises:
        pki.PkiNotConfigured: the PKI is not initialised.
    """
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.text import TextBoxStyle
    from pyhanko.sign import fields, signers
    from pyhanko.sign.validation.dss import DocumentSecurityStore
    from pyhanko.stamp import TextStampStyle

    signer = _seal_signer()
    timestamper = tsa.timestamper()
    field_spec = None
    if seal_box is not None:
        field_spec = fields.SigFieldSpec(
            sig_field_name=SEAL_FIELD, on_page=-1, box=tuple(round(v) for v in seal_box)
        )
    style = TextStampStyle(
        stamp_text=stamp_text,
        text_box_style=TextBoxStyle(
            font=GlyphAccumulatorFactory(stamp_font_path()),
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
    pdf_signer = signers.PdfSigner(
        metadata,
        signer,
        timestamper=timestamper,
        stamp_style=style,
        new_field_spec=field_spec,
    )
    signed = io.BytesIO()
    # NOTE: asyncio.run fails in a thread with a running event loop, so
    # async views must call this through sync_to_async.
    asyncio.run(
        pdf_signer.async_sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(content), strict=False),
            bytes_reserved=SEAL_BYTES_RESERVED,
            output=signed,
        )
    )

    # Revocation data must postdate the signature timestamp for B-LT. The
    # DSS contains the TSA's chain too, so the document timestamp needs no DSS
    # update after it and covers the whole file.
    context = validation_context(crl.current_crl())
    writer = IncrementalPdfFileWriter(signed, strict=False)
    leaves = [pki.organisation_identity(stem).certificate for stem in ("seal", "tsa")]
    DocumentSecurityStore.supply_dss_in_writer(
        writer,
        None,
        certs=[
            to_asn1(certificate) for certificate in [pki.root_certificate()] + leaves
        ],
        ocsps=[ocsp_response(certificate) for certificate in leaves],
        validation_context=context,
    )
    with_dss = io.BytesIO()
    writer.write(with_dss)

    output = io.BytesIO()
    stamper = signers.PdfTimeStamper(timestamper, field_name=TIMESTAMP_FIELD)
    asyncio.run(
        stamper.async_timestamp_pdf(
            IncrementalPdfFileWriter(with_dss, strict=False),
            DIGEST_ALGORITHM,
            bytes_reserved=TIMESTAMP_BYTES_RESERVED,
            output=output,
        )
    )
    log.info("protocol_copy_sealed", bytes=output.tell())
    return output.getvalue()
