"""Public verification of protocol copies, by upload or by number and code.

Nothing uploaded is stored. Each check that identifies a consultation is
journaled by number with the system as actor, without the client's address
or any other personal data. An uploaded copy identifies a consultation only
when it embeds a document that the installation signed for it.
"""

import hashlib
import hmac
import math
import time
from dataclasses import dataclass

import structlog
from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext, gettext_lazy

from protokol.errors import PayloadTooLarge, TooManyRequests, ValidationFailed
from protokol.signing.management.commands.verify import Check

log = structlog.get_logger(__name__)

# Checks per client address in one window. A PDF check takes about 0.1 s
# of CPU for a 2-page copy (bench/pdf_bench.py) plus the upload itself.
RATE_LIMIT = 20
# Names of the signature kinds (signing.models.SignatureKind) on the page.
KIND_NAMES = {
    "signer": gettext_lazy("specialist's signature"),
    "seal": gettext_lazy("organisation seal"),
    "acknowledgement": gettext_lazy("citizen's acknowledgement"),
}
RATE_WINDOW_SECONDS = 600
# The misread digits of a typed code as letters, and hyphens between its
# groups removed.
TYPED_CODE_TABLE = str.maketrans({"0": "O", "1": "I", "8": "B", "-": None})


@dataclass(frozen=True)
class PublicReport:
    """The outcome of a public check: the number it concerns and the checks.

    `version` is the checked protocol version when the installation stores
    its signatures, and `newer_version` the latest signed version of the
    consultation when that is newer, else None.
    """

    number: str
    checks: list[Check]
    version: int | None = None
    newer_version: int | None = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)


def check_rate(client: str) -> None:
    """Count one check for `client`; raise TooManyRequests over the limit.

    NOTE: the count lives in Django's cache, which is per process with the
    default local-memory backend; a shared cache makes it per installation.
    """
    key = "public-verify:" + hashlib.sha256(client.encode()).hexdigest()
    # The window's end, so that a rejected client learns when it reopens.
    cache.add(key + ":end", time.time() + RATE_WINDOW_SECONDS, RATE_WINDOW_SECONDS)
    cache.add(key, 0, RATE_WINDOW_SECONDS)
    try:
        count = cache.incr(key)
    except ValueError:
        # The entry expired between add and incr.
        cache.add(key, 1, RATE_WINDOW_SECONDS)
        count = 1
    if count > RATE_LIMIT:
        window_end = cache.get(key + ":end", time.time() + RATE_WINDOW_SECONDS)
        raise TooManyRequests(
            gettext("Too many checks from this address; try again in 10 minutes."),
            retry_after=max(1, math.ceil(window_end - time.time())),
        )


def verify_upload(data: bytes) -> PublicReport:
    """Check an uploaded copy against the installation's root and journal key.

    When the installation stores a signature over the embedded document, the
    report names its protocol version and any newer signed version.
    """
    from protokol.documents.pdfcheck import embedded_document, verify_pdf
    from protokol.journal import checkpoints
    from protokol.signing import pki

    if len(data) > settings.CONFIG.max_upload_bytes:
        raise PayloadTooLarge(
            gettext("The file is larger than %(limit)d bytes.")
            % {"limit": settings.CONFIG.max_upload_bytes},
            field="file",
        )
    if not data.startswith(b"%PDF-"):
        raise ValidationFailed(gettext("The file is not a PDF."), field="file")
    root = pki.pki_dir() / "root.pem"
    checks = verify_pdf(data, root=root, key=str(checkpoints.verifier_key()))
    checks = _without_path(checks, root)
    document = embedded_document(data)
    number = _number_of(document)
    consultation = _consultation_of(number)
    version = newer = None
    if consultation is not None and document is not None:
        signed = _signed_versions(consultation)
        digest = hashlib.sha256(document).digest()
        for signed_version, stored in signed:
            if stored == digest:
                version = signed_version
        newer = _newer_version(signed, version)
    report = PublicReport(
        number=number, checks=checks, version=version, newer_version=newer
    )
    # A copy from another installation can carry a local number. It reads the
    # local consultation only when it embeds a document signed here, because
    # that document is what the signatures cover and the code derives from.
    known = consultation if version is not None else None
    _journal(number, mode="upload", ok=report.ok, consultation=known)
    return report


def typed_number(text: str) -> str:
    """Return a typed consultation number in upper case with the prefix КП.

    The Latin "KP" of an English keyboard reads as the Cyrillic prefix, as in
    search.
    """
    from protokol.consultations.services import NUMBER_PREFIX
    from protokol.search.services import NUMBER
    from protokol.search.text import fold

    match = NUMBER.fullmatch(fold(text.strip()))
    if match:
        return f"{NUMBER_PREFIX}-{match[1]}"
    return text.strip().upper()


def verify_code(number: str, code: str) -> PublicReport:
    """Check the signed protocol version that `number` and its code name.

    Every signed version keeps its code. The report names a newer signed
    version of the consultation when there is one.

    Raises:
        ValidationFailed: a field is empty, or the pair names no signed copy;
            the message does not tell which, so codes cannot be probed per
            number.
    """
    from protokol.documents.services import digest_code
    from protokol.journal.canonical import format_time
    from protokol.signing.models import Signature
    from protokol.signing.reports import signature_reports

    # Numbers are stored in upper case, and a code typed from paper may not be.
    number, code = typed_number(number), typed_code(code)
    for field, value in (("number", number), ("code", code)):
        if not value:
            raise ValidationFailed(gettext("Fill in this field."), field=field)

    consultation = _consultation_of(number)
    signed = _signed_versions(consultation) if consultation is not None else []
    version = None
    # Every code is compared, so the time taken does not tell which matched.
    for signed_version, digest in signed:
        if hmac.compare_digest(digest_code(digest), code):
            version = signed_version
    if version is None:
        log.info("public_verify_no_match")
        raise ValidationFailed(
            gettext("No signed protocol has this number and code."), field="code"
        )

    rows = list(
        Signature.objects.filter(consultation=consultation, protocol_version=version)
    )
    checks = []
    for report in signature_reports(consultation, rows):
        signature = report.signature
        time = report.cms.timestamp_time
        detail = gettext("%(kind)s, %(subject)s, timestamp %(time)s") % {
            "kind": KIND_NAMES.get(signature.kind, signature.kind),
            "subject": report.cms.certificate_subject,
            "time": format_time(time) if time else "-",
        }
        if report.problems:
            detail += "; " + "; ".join(report.problems)
        name = gettext("signature %(id)s") % {"id": signature.pk}
        checks.append(Check(name, report.ok, detail))
    public = PublicReport(
        number=number,
        checks=checks,
        version=version,
        newer_version=_newer_version(signed, version),
    )
    _journal(number, mode="code", ok=public.ok, consultation=consultation)
    return public


def typed_code(text: str) -> str:
    """Return a typed verification code in upper case, with 0, 1, 8 as O, I, B.

    Base32 has no 0, 1 or 8, so in a typed code they can only be misread
    letters. Whitespace and hyphens between groups are dropped.
    """
    return "".join(text.split()).upper().translate(TYPED_CODE_TABLE)


def _without_path(checks: list[Check], root) -> list[Check]:
    """Return the checks with the root file's path replaced by its name.

    The page is public, and the path would show how the server is laid out.
    """
    label = gettext("the installation's root certificate")
    return [
        Check(check.name, check.ok, check.detail.replace(str(root), label))
        for check in checks
    ]


def _consultation_of(number: str):
    from protokol.consultations.models import Consultation

    if not number:
        return None
    return Consultation.objects.filter(number=number).first()


def _signed_versions(consultation) -> list[tuple[int, bytes]]:
    """Return (version, SHA-256 of the stored document) of each signed document.

    Acknowledgements sign a record about the protocol, not the protocol
    document, so they are left out. The hash is of the stored bytes, which
    the copies embed, and not the stored signed_data_sha256.
    """
    from protokol.signing.models import Signature, SignatureKind

    rows = (
        Signature.objects.filter(consultation=consultation)
        .exclude(kind=SignatureKind.ACKNOWLEDGEMENT)
        .order_by("protocol_version", "id")
        .values_list("protocol_version", "document")
    )
    return [(version, hashlib.sha256(document).digest()) for version, document in rows]


def _newer_version(signed: list[tuple[int, bytes]], version: int | None) -> int | None:
    """Return the latest signed version when it is newer than `version`."""
    if version is None or not signed:
        return None
    latest = max(signed_version for signed_version, _ in signed)
    return latest if latest > version else None


def _number_of(document: bytes | None) -> str:
    import json

    if document is None:
        return ""
    try:
        number = json.loads(document)["consultation"]["number"]
    except (ValueError, KeyError, TypeError):
        return ""
    return number if isinstance(number, str) else ""


def _journal(number: str, *, mode: str, ok: bool, consultation=None) -> None:
    from protokol.journal import services as journal
    from protokol.journal.models import JournalAction

    if consultation is None:
        log.info("public_verify_unknown_copy", mode=mode, ok=ok)
        return
    journal.record_now(
        JournalAction.CONSULTATION_READ,
        actor=None,
        object_type="consultation",
        object_id=consultation.pk,
        object_label=consultation.number,
        consultation_id=consultation.pk,
        after={"via": "web:verify", "mode": mode, "ok": ok},
    )
