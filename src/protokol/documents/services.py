"""Issuing protocol copies: authorization, rendering and the journal entry."""

import base64
import hashlib
from dataclasses import dataclass
from urllib.parse import urlencode

import structlog
from django.conf import settings
from django.utils.translation import gettext

from protokol.consultations.lifecycle import SEALED_STATUSES
from protokol.consultations.presenters import consultation_detail
from protokol.consultations.services import get_visible, journal_denials
from protokol.documents import cache as copy_cache
from protokol.documents import collected as collected_data
from protokol.errors import PayloadTooLarge
from protokol.journal import services as journal
from protokol.journal.models import JournalAction
from protokol.validation import check_language

log = structlog.get_logger(__name__)

# Names of the associated files in a sealed copy; `protokol verify` reads them.
DOCUMENT_FILE = "protocol.json"
ENTRY_FILE = "journal-entry.json"
PROOF_FILE = "journal-entry.tlog-proof"
JOURNAL_KEY_FILE = "journal.pub"
# Characters of the verification code: 80 bits of the signed document's SHA-256.
CODE_LENGTH = 16


def issue_copy(
    actor,
    consultation_id,
    *,
    language: str = "ru",
    personal_data: str = collected_data.MASKED,
    job: str | None = None,
) -> tuple[str, bytes]:
    """Render the protocol copy for `actor` and journal the issuance.

    A signed protocol's copy carries the signed document, its signatures and
    the journal proof as associated files, a QR code of the verification
    page, and the organisation seal as PAdES B-LTA. A draft is not signed.
    The collected data are masked unless `personal_data` is "full", which
    only requesters who may read them get (403 for others). `job` is the
    token of the background job that renders it, recorded in the journal.
    Returns the download file name and the PDF bytes.
    """
    prepared = prepare_copy(
        actor, consultation_id, language=language, personal_data=personal_data
    )
    return issue_prepared(actor, prepared, job=job)


@dataclass(frozen=True)
class PreparedCopy:
    """A copy request that passed every check, with what the copy presents."""

    consultation: object
    detail: dict
    language: str
    variant: str


@journal_denials
def prepare_copy(
    actor, consultation_id, *, language: str, personal_data: str
) -> PreparedCopy:
    """Check a copy request; raise the API error of the first check that fails.

    A denial (403) is journaled with the actor.
    """
    check_language(language)
    variant = collected_data.check_variant(personal_data)
    consultation = get_visible(actor, consultation_id)
    if variant == collected_data.FULL:
        collected_data.check_full_allowed(actor, consultation)
    detail = consultation_detail(consultation, actor, public_only=True)
    check_copy_size(detail)
    return PreparedCopy(consultation, detail, language, variant)


def issue_prepared(
    actor, prepared: PreparedCopy, *, job: str | None = None
) -> tuple[str, bytes]:
    """Render a checked copy request and journal it as copy:read by `actor`."""
    consultation, variant = prepared.consultation, prepared.variant
    collected = collected_data.collected_section(actor, consultation, variant)
    content = render_sealed_copy(
        consultation,
        prepared.detail,
        language=prepared.language,
        collected=collected,
    )

    after = {
        "language": prepared.language,
        "bytes": len(content),
        "personal_data": variant,
    }
    if job is not None:
        after["job"] = job
    journal.record_now(
        JournalAction.COPY_READ,
        actor=actor,
        object_type="consultation",
        object_id=consultation.pk,
        object_label=consultation.number,
        consultation_id=consultation.pk,
        after=after,
    )
    suffix = "-full" if variant == collected_data.FULL else ""
    return f"protocol-{consultation.pk}-{prepared.language}{suffix}.pdf", content


def copy_text_chars(detail: dict) -> int:
    """Return how many characters of user text the copy of `detail` prints."""
    texts = [detail["subject"], detail["description"]]
    texts += [m["text"] for m in detail["messages"] if m["visibility"] == "public"]
    protocol = detail["protocol"] or {}
    texts += [value for value in protocol.values() if isinstance(value, str)]
    texts += [transition["comment"] or "" for transition in detail["transitions"]]
    texts += [addendum["text"] for addendum in detail["addenda"]]
    return sum(len(text) for text in texts)


def check_copy_size(detail: dict) -> None:
    """Raise PayloadTooLarge (413) above PROTOKOL_COPY_MAX_TEXT_CHARS of text."""
    limit = settings.CONFIG.copy_max_text_chars
    chars = copy_text_chars(detail)
    if chars > limit:
        raise PayloadTooLarge(
            gettext(
                "The protocol copy would contain %(chars)d characters of text, "
                "above the limit of %(limit)d (PROTOKOL_COPY_MAX_TEXT_CHARS)."
            )
            % {"chars": chars, "limit": limit},
            field="consultation_id",
            limit=limit,
        )


def render_sealed_copy(
    consultation, detail: dict, *, language: str, collected=None
) -> bytes:
    """Render the copy; seal it when the consultation has a signed protocol.

    `collected` is the CollectedSection to print, or None to leave it out.
    A sealed copy whose rendered inputs are unchanged comes from the cache.
    """
    from protokol.documents.pdf import LABELS, render_copy

    evidence = None
    if consultation.status in SEALED_STATUSES:
        evidence = signed_evidence(consultation)
    if evidence is None:
        return render_copy(detail, language=language, collected=collected).content

    from protokol.documents import pades

    files = evidence.files
    if settings.CONFIG.copy_embed_attachments:
        files += attachment_files(consultation, detail)
    key = copy_cache.copy_key(
        detail,
        language=language,
        files=files,
        signatures=evidence.signatures,
        journal_facts=evidence.journal_facts,
        collected=collected,
    )
    # A full copy contains personal data, which is stored only encrypted.
    encrypted = collected is not None and collected.variant == collected_data.FULL
    cached = copy_cache.load(key, encrypted=encrypted)
    if cached is not None:
        return cached

    rendered = render_copy(
        detail,
        language=language,
        files=files,
        verify_url=verify_url(consultation.number, evidence.code),
        verification_code=evidence.code,
        signatures=evidence.signatures,
        journal_facts=evidence.journal_facts,
        collected=collected,
        producer=pades.PRODUCER,
    )
    labels = LABELS[language]
    content = pades.sign_copy(
        rendered.content,
        seal_box=rendered.seal_box,
        stamp_text=labels["seal_stamp"],
        reason=f"{labels['document_title']} {consultation.number}",
    )
    variant = collected.variant if collected is not None else "none"
    slot = copy_cache.slot_name(consultation.pk, language, variant)
    copy_cache.store(key, content, encrypted=encrypted, slot=slot)
    return content


def attachment_files(consultation, detail: dict) -> tuple:
    """Return the copy's attachments, decrypted, as Data associated files.

    Takes them oldest first and skips, with a warning in the log, each one
    that would take the total above PROTOKOL_COPY_EMBED_MAX_BYTES.
    Raises IntegrityFailed when a stored file fails its integrity check.
    """
    from protokol.consultations.attachments import open_plaintext
    from protokol.consultations.models import Attachment
    from protokol.documents.pdf import EmbeddedFile

    budget = settings.CONFIG.copy_embed_max_bytes
    listed = [item["id"] for item in detail["attachments"]]
    attachments = Attachment.objects.filter(
        consultation=consultation, pk__in=listed
    ).order_by("created_at", "pk")
    files = []
    for attachment in attachments:
        if attachment.size > budget:
            log.warning(
                "copy_attachment_not_embedded",
                consultation_id=consultation.pk,
                attachment_id=attachment.pk,
                size=attachment.size,
                remaining_bytes=budget,
            )
            continue
        with open_plaintext(attachment) as handle:
            content = handle.read()
        budget -= len(content)
        files.append(
            EmbeddedFile(
                f"attachment-{attachment.pk}-{attachment.original_name}",
                content,
                f"Attachment {attachment.original_name} (SHA-256 {attachment.sha256})",
                attachment.content_type,
                relationship="Data",
            )
        )
    return tuple(files)


def verification_code(document: bytes) -> str:
    """Return the copy's verification code: base32 of the document's SHA-256."""
    return digest_code(hashlib.sha256(document).digest())


def digest_code(digest: bytes) -> str:
    """Return the verification code of a signed document's SHA-256 digest."""
    return base64.b32encode(digest).decode()[:CODE_LENGTH]


def verify_url(number: str, code: str) -> str:
    """Return the public verification URL of a copy."""
    query = urlencode({"number": number, "code": code})
    return f"{settings.CONFIG.public_url.rstrip('/')}/verify?{query}"


@dataclass(frozen=True)
class SignedEvidence:
    """The evidence a sealed copy embeds: signed document, signatures, proof.

    `signatures` and `journal_facts` are what the copy prints about them.
    """

    document: bytes
    code: str
    files: tuple
    signatures: tuple = ()
    journal_facts: object = None


def signed_evidence(consultation) -> SignedEvidence | None:
    """Return the evidence of the latest signed protocol version, or None.

    Issues a journal checkpoint first when none covers the signing entry yet,
    so the copy's proof verifies against a signed tree head.
    """
    from protokol.documents.pdf import EmbeddedFile, JournalFacts, SignatureFacts
    from protokol.journal import checkpoints
    from protokol.journal.canonical import canonical_bytes
    from protokol.journal.tlog import tlog_proof_text
    from protokol.signing.models import Signature, SignatureKind
    from protokol.signing.reports import (
        JournalContext,
        journal_entries,
        signature_reports,
    )

    # Oldest first, as in the model's ordering. That ordering starts with the
    # consultation, which is the same for every row here and would add a join.
    # An acknowledgement signs a record about the protocol, not the protocol
    # document, so the copy leaves it and its journal entry out.
    stored = list(
        Signature.objects.filter(consultation=consultation)
        .exclude(kind=SignatureKind.ACKNOWLEDGEMENT)
        .order_by("protocol_version", "id")
    )
    if not stored:
        return None
    latest_version = max(signature.protocol_version for signature in stored)
    current = [row for row in stored if row.protocol_version == latest_version]
    latest = current[0]
    # One read of the journal serves the checkpoint decision and the reports.
    entries = journal_entries(consultation)
    transitions = [
        entry.index
        for entry in entries
        if entry.action == JournalAction.CONSULTATION_TRANSITION
    ]
    entry_index = transitions[-1] if transitions else None
    checkpoint = checkpoints.latest_checkpoint()
    if entry_index is not None and (
        checkpoint is None or checkpoint.size <= entry_index
    ):
        checkpoint = checkpoints.issue_checkpoint()

    # The copy embeds the stored document, which its signatures cover, so
    # comparing it with the consultation's current rows would change nothing
    # here. The journal checks stay: an altered signing entry leaves the
    # copy without a journal proof.
    journal_context = JournalContext(entries, checkpoint)
    reports = signature_reports(
        consultation, current, journal=journal_context, compare_documents=False
    )
    document = bytes(latest.document)
    files = [
        EmbeddedFile(
            DOCUMENT_FILE,
            document,
            "Signed protocol document (RFC 8785 JSON)",
            "application/json",
            relationship="Source",
        )
    ]
    signatures = []
    signing = None
    for report in reports:
        signature = report.signature
        if bytes(signature.document) != document:
            continue
        signing = report
        signatures.append(
            SignatureFacts(
                kind=signature.kind,
                signer=signature.signer_name,
                certificate_subject=report.cms.certificate_subject,
                certificate_serial=report.cms.certificate_serial,
                signing_time=report.cms.timestamp_time,
            )
        )
        files.append(
            EmbeddedFile(
                f"protocol.{signature.kind}-{signature.pk}.p7s",
                bytes(signature.cms),
                f"CAdES-T signature ({signature.kind}) over {DOCUMENT_FILE}",
                "application/pkcs7-signature",
            )
        )
    # The signer's and the seal's signatures are listed in one signing entry.
    inclusion = signing.inclusion if signing else None
    entry = signing.signing_entry if signing else None
    journal_facts = None
    if inclusion is not None:
        journal_facts = JournalFacts(
            index=inclusion.index,
            checkpoint_size=inclusion.checkpoint_size,
            root=inclusion.root,
        )
        proof = [bytes.fromhex(node) for node in inclusion.hashes]
        files += [
            EmbeddedFile(
                ENTRY_FILE,
                canonical_bytes(entry),
                "Journal entry of the signing (canonical JSON)",
                "application/json",
            ),
            EmbeddedFile(
                PROOF_FILE,
                tlog_proof_text(inclusion.index, proof, inclusion.note).encode(),
                "Inclusion proof of the journal entry (c2sp.org/tlog-proof@v1)",
                "text/plain",
            ),
            EmbeddedFile(
                JOURNAL_KEY_FILE,
                f"{journal_context.verifier}\n".encode(),
                "Verifier key of the journal checkpoints",
                "text/plain",
            ),
        ]
    return SignedEvidence(
        document=document,
        code=verification_code(document),
        files=tuple(files),
        signatures=tuple(signatures),
        journal_facts=journal_facts,
    )
