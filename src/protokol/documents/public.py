"""Public verification of protocol copies, by upload or by number and code.

Nothing uploaded is stored. Each check that identifies a consultation is
journaled by number with the system as actor, without the client's address
or any other personal data.
"""

import hashlib
import hmac
from dataclasses import dataclass

import structlog
from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext

from protokol.errors import PayloadTooLarge, ProtokolError, ValidationFailed
from protokol.signing.management.commands.verify import Check

log = structlog.get_logger(__name__)

# Checks per client address in one window. A PDF check takes about 0.1 s
# of CPU for a 2-page copy (bench/pdf_bench.py) plus the upload itself.
RATE_LIMIT = 20
RATE_WINDOW_SECONDS = 600


class TooManyRequests(ProtokolError):
    status = 429
    code = "too_many_requests"


@dataclass(frozen=True)
class PublicReport:
    """The outcome of a public check: the number it concerns and the checks."""

    number: str
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)


def check_rate(client: str) -> None:
    """Count one check for `client`; raise TooManyRequests over the limit.

    NOTE: the count lives in Django's cache, which is per process with the
    default local-memory backend; a shared cache makes it per installation.
    """
    key = "public-verify:" + hashlib.sha256(client.encode()).hexdigest()
    cache.add(key, 0, RATE_WINDOW_SECONDS)
    try:
        count = cache.incr(key)
    except ValueError:
        # The entry expired between add and incr.
        cache.add(key, 1, RATE_WINDOW_SECONDS)
        count = 1
    if count > RATE_LIMIT:
        raise TooManyRequests(
            gettext("Too many checks from this address; try again in 10 minutes.")
        )


def verify_upload(data: bytes) -> PublicReport:
    """Check an uploaded copy against the installation's root and journal key."""
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
    checks = verify_pdf(
        data, root=pki.pki_dir() / "root.pem", key=str(checkpoints.verifier_key())
    )
    number = _number_of(embedded_document(data))
    report = PublicReport(number=number, checks=checks)
    _journal(number, mode="upload", ok=report.ok)
    return report


def verify_code(number: str, code: str) -> PublicReport:
    """Check the signed protocol that `number` and its verification code name.

    Raises:
        ValidationFailed: a field is empty, or the pair names no signed copy;
            the message does not tell which, so codes cannot be probed per
            number.
    """
    from protokol.consultations.models import Consultation
    from protokol.documents.services import verification_code
    from protokol.journal.canonical import format_time
    from protokol.signing.models import Signature
    from protokol.signing.reports import signature_reports

    number, code = number.strip(), code.strip().upper()
    for field, value in (("number", number), ("code", code)):
        if not value:
            raise ValidationFailed(gettext("Fill in this field."), field=field)

    consultation = Consultation.objects.filter(number=number).first()
    latest = None
    if consultation is not None:
        latest = (
            Signature.objects.filter(consultation=consultation)
            .order_by("-protocol_version", "-id")
            .first()
        )
    expected = verification_code(bytes(latest.document)) if latest else ""
    if not expected or not hmac.compare_digest(expected, code):
        log.info("public_verify_no_match")
        raise ValidationFailed(
            gettext("No signed protocol has this number and code."), field="code"
        )

    checks = []
    for report in signature_reports(consultation):
        signature = report.signature
        if signature.protocol_version != latest.protocol_version:
            continue
        time = report.cms.timestamp_time
        detail = gettext("%(kind)s, %(subject)s, timestamp %(time)s") % {
            "kind": signature.kind,
            "subject": report.cms.certificate_subject,
            "time": format_time(time) if time else "-",
        }
        if report.problems:
            detail += "; " + "; ".join(report.problems)
        checks.append(Check(f"signature {signature.pk}", report.ok, detail))
    public = PublicReport(number=number, checks=checks)
    _journal(number, mode="code", ok=public.ok, consultation=consultation)
    return public


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
    from protokol.consultations.models import Consultation
    from protokol.journal import services as journal
    from protokol.journal.models import JournalAction

    if consultation is None and number:
        consultation = Consultation.objects.filter(number=number).first()
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
