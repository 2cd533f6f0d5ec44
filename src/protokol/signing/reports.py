"""Reports on a consultation's stored signatures, for the API and the tamper checks.

Adds to `verify.check_cms` what only the installation can check: that the
consultation still produces the signed document, and that the signing entry
is in the journal under a signed checkpoint.
"""

import functools
import hashlib
import json
import threading
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from django.db.models import Max
from django.utils.translation import get_language, gettext

from protokol.signing.verify import (
    CmsCheck,
    check_cms,
    document_differences,
)


@dataclass(frozen=True)
class JournalInclusion:
    """The proof that a signing entry is in the tree of a signed checkpoint.

    Fields:
        index: the journal entry's index.
        checkpoint_size: the tree size of the checkpoint.
        root: hex root hash signed by the checkpoint.
        hashes: hex audit path, deepest sibling first (RFC 9162 section 2.1.3).
        note: the checkpoint as a signed note.
    """

    index: int
    checkpoint_size: int
    root: str
    hashes: list[str]
    note: str


@dataclass(frozen=True)
class SignatureReport:
    """Everything checked about one stored signature.

    Fields:
        signature: the stored row.
        cms: the check of the CMS over the stored document bytes.
        stored_hash_matches: SHA-256 of the stored document equals the
            stored signed_data_sha256.
        document_matches: the document recomputed from the consultation's
            rows has the stored signed_data_sha256; None when the protocol
            version no longer exists or the documents were not compared.
            For an acknowledgement: its record binds the seal's signed hash
            of the same version.
        differences: the parts of the recomputed document that differ.
        signing_entry_index: index of the consultation:transition entry
            with after.action "sign", or of the protocol:acknowledge entry,
            that lists this signature, or None.
        inclusion: the proof of that entry, None when there is none.
        inclusion_reason: why `inclusion` is None, or "".
        problems: one sentence for each failed check, naming the object.
        signing_entry: the journal entry at `signing_entry_index`, or None.
    """

    signature: object
    cms: CmsCheck
    stored_hash_matches: bool
    document_matches: bool | None
    differences: list[str]
    signing_entry_index: int | None
    inclusion: JournalInclusion | None
    inclusion_reason: str
    problems: list[str]
    signing_entry: object = None

    @property
    def ok(self) -> bool:
        return not self.problems


def signature_reports(
    consultation, signatures=None, *, journal=None, compare_documents=True
) -> list[SignatureReport]:
    """Check stored signatures of the consultation, oldest first.

    `signatures` are the rows to check, by default all of the consultation's.
    `journal` is the consultation's JournalContext, loaded when None. With
    `compare_documents` false, the documents are not recomputed from the
    consultation's rows nor acknowledgement records checked, so
    `document_matches` is None and `differences` and `problems` lack them.
    """
    from protokol.signing.models import Signature

    if signatures is None:
        signatures = list(Signature.objects.filter(consultation=consultation))
    if not signatures:
        return []
    from protokol.signing import crl, pki

    trust = _TrustInputs(
        roots=[pki.root_certificate()],
        revocations=crl.current_crl(),
        # Read once per report: they are trusted for timestamp tokens only.
        timestamp_roots=pki.timestamp_roots(),
    )
    if journal is None:
        journal = JournalContext.load(consultation)
    latest_version = None
    if compare_documents:
        latest_version = consultation.signatures.aggregate(
            latest=Max("protocol_version")
        )["latest"]
    return [
        _report(
            signature,
            consultation,
            trust,
            journal,
            latest_version,
            compare_documents=compare_documents,
        )
        for signature in signatures
    ]


class _TrustInputs:
    """The roots and the CRL that check_cms uses, with their digest."""

    def __init__(self, *, roots, revocations, timestamp_roots):
        self.roots = roots
        self.revocations = revocations
        self.timestamp_roots = timestamp_roots
        digest = hashlib.sha256()
        for certificate in [*roots, None, *timestamp_roots]:
            digest.update(b"|" if certificate is None else _der(certificate))
        digest.update(b"|")
        if revocations is not None:
            digest.update(_der(revocations))
        self.digest = digest.digest()


def _der(item) -> bytes:
    return item.public_bytes(serialization.Encoding.DER)


# Results of check_cms by the digest of every input. A signature with a
# timestamp token is checked at the token's genTime, never at the current
# time, so its result depends only on the CMS, the document, the roots, the
# CRL and the language of the messages. A new CRL or root changes the key. A
# signature without a token is checked at the current time and never kept.
MAX_CMS_CHECKS = 512
_cms_checks: dict[bytes, CmsCheck] = {}
_cms_checks_lock = threading.Lock()


def checked_cms(cms_der: bytes, document: bytes, trust: "_TrustInputs") -> CmsCheck:
    """Return check_cms of a signature, reusing an earlier result of the same inputs.

    Stored signatures are immutable, and a protocol copy checks them on
    every render, so the RSA and timestamp checks run once per process for
    each combination of signature, roots and CRL.
    """
    digest = hashlib.sha256(trust.digest)
    for part in (cms_der, document, (get_language() or "").encode()):
        digest.update(hashlib.sha256(part).digest())
    key = digest.digest()
    with _cms_checks_lock:
        cached = _cms_checks.get(key)
    if cached is not None:
        return cached

    check = check_cms(
        cms_der,
        document,
        trust.roots,
        trust.revocations,
        timestamp_roots=trust.timestamp_roots,
    )
    if check.timestamp_time is not None:
        with _cms_checks_lock:
            if len(_cms_checks) >= MAX_CMS_CHECKS:
                _cms_checks.clear()
            _cms_checks[key] = check
    return check


def _report(
    signature, consultation, trust, journal, latest_version, *, compare_documents
) -> SignatureReport:
    label = gettext("signature %(id)s") % {"id": signature.pk}
    document = bytes(signature.document)
    check = checked_cms(bytes(signature.cms), document, trust)
    problems = [f"{label}: {problem}" for problem in check.problems]

    stored_hash_matches = (
        hashlib.sha256(document).hexdigest() == signature.signed_data_sha256
    )
    if not stored_hash_matches:
        problems.append(
            gettext("%(label)s: the stored document does not match its SHA-256")
            % {"label": label}
        )
    if signature.timestamp_time != check.timestamp_time:
        problems.append(
            gettext("%(label)s: the stored timestamp time differs from the token's")
            % {"label": label}
        )

    document_matches, differences = None, []
    if compare_documents:
        document_matches, differences, document_problems = _document_check(
            signature, consultation, document, check, latest_version, label
        )
        problems += document_problems

    index, inclusion, reason, journal_problems = journal.inclusion(signature)
    problems += [f"{label}: {problem}" for problem in journal_problems]
    entry, _ = journal.signing_entry(signature)
    return SignatureReport(
        signature=signature,
        cms=check,
        stored_hash_matches=stored_hash_matches,
        document_matches=document_matches,
        differences=differences,
        signing_entry_index=index,
        inclusion=inclusion,
        inclusion_reason=reason,
        problems=problems,
        signing_entry=entry,
    )


def _document_check(signature, consultation, document, check, latest_version, label):
    """Return (document_matches, differences, problems) of one signature.

    Rows of the consultation can change without touching the signature, so
    the document is recomputed and compared with the signed hash.
    """
    from protokol.signing.document import protocol_document
    from protokol.signing.models import SignatureKind

    if signature.kind == SignatureKind.ACKNOWLEDGEMENT:
        document_matches, binding_problems = _acknowledgement_binds(
            signature, consultation, document, check
        )
        return (
            document_matches,
            [],
            [f"{label}: {problem}" for problem in binding_problems],
        )
    version = consultation.protocol_versions.filter(
        version=signature.protocol_version
    ).first()
    if version is None:
        problem = gettext(
            "%(label)s: protocol version %(version)s no longer exists"
        ) % {"label": label, "version": signature.protocol_version}
        return None, [], [problem]

    # Messages and files added after a superseded version was signed, for
    # example while a dispute reopened the consultation, belong to the
    # newer version. The latest version is compared with every row, so
    # an added row still shows there.
    until = None
    if latest_version is not None and signature.protocol_version < latest_version:
        until = signature.created_at
    current = protocol_document(consultation, version, until=until)
    if hashlib.sha256(current).hexdigest() == signature.signed_data_sha256:
        return True, [], []
    differences = document_differences(document, current)
    problem = gettext(
        "%(label)s: the consultation no longer matches the signed "
        "document; changed: %(parts)s"
    ) % {"label": label, "parts": ", ".join(differences) or "document"}
    return False, differences, [problem]


def _acknowledgement_binds(signature, consultation, document, check):
    """Return whether an acknowledgement record binds a signed document, and why not.

    The record must name this consultation and version and the signed hash
    of another signature of that version, and the seal must have signed it.
    """
    from protokol.signing.models import Signature, SignatureKind

    try:
        record = json.loads(document)
        bound = record["protocol"]["signed_data_sha256"]
        record_consultation = record["consultation"]["id"]
        record_version = record["protocol"]["version"]
    except (ValueError, TypeError, KeyError):
        return False, [gettext("the acknowledgement record is not valid JSON")]

    problems = []
    if record_consultation != consultation.pk or (
        record_version != signature.protocol_version
    ):
        problems.append(
            gettext("the acknowledgement record names another consultation or version")
        )
    signed = Signature.objects.filter(
        consultation=consultation,
        protocol_version=signature.protocol_version,
        signed_data_sha256=bound,
    ).exclude(kind=SignatureKind.ACKNOWLEDGEMENT)
    seal = signed.filter(kind=SignatureKind.SEAL).first()
    if seal is None:
        problems.append(
            gettext("the acknowledged hash is not that of a signed protocol version")
        )
    elif check.certificate_subject != seal.certificate_subject:
        problems.append(
            gettext("the acknowledgement is not signed with the organisation seal")
        )
    return not problems, problems


@functools.lru_cache(maxsize=16)
def _verified_note(note: str, verifier):
    """Return verify_note() of a checkpoint note, once per process for each input.

    The result depends only on the note's text and the key, so a new
    checkpoint or key is verified again. A note that fails is not kept.
    """
    from protokol.journal import checkpoints

    return checkpoints.verify_note(note, verifier)


def journal_entries(consultation) -> list:
    """Return the consultation's transition and acknowledge entries, oldest first.

    The payloads come in the same query, for check_entry().
    """
    from protokol.journal.models import JournalAction, JournalEntry

    return list(
        JournalEntry.objects.filter(
            consultation_id=consultation.pk,
            action__in=[
                JournalAction.CONSULTATION_TRANSITION,
                JournalAction.PROTOCOL_ACKNOWLEDGE,
            ],
        )
        .select_related("payload")
        .order_by("index")
    )


class JournalContext:
    """The signing entries of one consultation and the checkpoint that covers them.

    `entries` are journal_entries() of the consultation, and `checkpoint`
    is the latest Checkpoint or None.
    """

    def __init__(self, entries, checkpoint):
        from protokol.journal import checkpoints
        from protokol.journal.models import JournalAction

        # Transitions with action "sign" first, then acknowledgements, each
        # oldest first.
        self.entries = [
            entry
            for entry in entries
            if entry.action == JournalAction.CONSULTATION_TRANSITION
            and (entry.after or {}).get("action") == "sign"
        ]
        self.entries += [
            entry
            for entry in entries
            if entry.action == JournalAction.PROTOCOL_ACKNOWLEDGE
        ]
        self.checkpoint = checkpoint
        # (inclusion, reason, problems) of each signing entry by its index.
        self._entry_inclusions = {}
        # The key that verified the checkpoint, None when none did.
        self.verifier = None
        self.signed = None
        self.checkpoint_problem = ""
        if self.checkpoint is not None:
            try:
                verifier = checkpoints.verifier_key()
                self.signed = _verified_note(self.checkpoint.note, verifier)
                self.verifier = verifier
            except (checkpoints.SigningKeyMissing, checkpoints.NoteInvalid) as error:
                self.checkpoint_problem = gettext(
                    "checkpoint %(id)s does not verify: %(error)s"
                ) % {"id": self.checkpoint.pk, "error": error}

    @classmethod
    def load(cls, consultation) -> "JournalContext":
        """Return the context of the consultation's entries and latest checkpoint."""
        from protokol.journal import checkpoints

        return cls(journal_entries(consultation), checkpoints.latest_checkpoint())

    def signing_entry(self, signature):
        for entry in self.entries:
            for item in entry.after.get("signatures") or []:
                if isinstance(item, dict) and item.get("id") == signature.pk:
                    return entry, item
        return None, None

    def inclusion(self, signature):
        """Return (index, inclusion, reason, problems) for one signature."""
        entry, item = self.signing_entry(signature)
        if entry is None:
            reason = gettext("no signing entry in the journal lists this signature")
            return None, None, reason, [reason]

        problems = []
        label = gettext("journal entry %(index)s") % {"index": entry.index}
        if item.get("signed_data_sha256") != signature.signed_data_sha256 or (
            item.get("certificate_serial") != signature.certificate_serial
        ):
            problems.append(
                gettext("%(label)s records a different hash or certificate")
                % {"label": label}
            )
        # The signer's and the seal's signatures share one signing entry,
        # so its proof is computed once.
        if entry.index not in self._entry_inclusions:
            self._entry_inclusions[entry.index] = self._entry_inclusion(entry, label)
        inclusion, reason, entry_problems = self._entry_inclusions[entry.index]
        return entry.index, inclusion, reason, [*problems, *entry_problems]

    def _entry_inclusion(self, entry, label):
        """Return (inclusion, reason, problems) for one signing entry."""
        from protokol.journal import merkle, tree
        from protokol.journal.canonical import canonical_bytes, leaf_hash
        from protokol.journal.services import check_entry

        problems = []
        leaf = leaf_hash(canonical_bytes(entry))
        # check_entry also rejects payload members stored in a format 2
        # header, which the leaf hash does not cover: such a row is not the
        # entry that the tree includes.
        altered = check_entry(entry.index, entry) is not None
        if leaf != entry.leaf_hash or altered:
            problems.append(
                gettext("%(label)s does not match its leaf hash") % {"label": label}
            )

        if self.checkpoint_problem:
            problems.append(self.checkpoint_problem)
            return None, self.checkpoint_problem, problems
        if self.signed is None or self.signed.size <= entry.index:
            reason = gettext("no signed checkpoint covers %(label)s yet") % {
                "label": label
            }
            return None, reason, problems

        size = self.signed.size
        try:
            proof = tree.inclusion_proof(entry.index, size)
        except tree.TreeCorrupted as error:
            reason = str(error)
            return None, reason, [*problems, reason]
        if altered or not merkle.verify_inclusion(
            entry.index, size, bytes.fromhex(leaf), proof, self.signed.root
        ):
            reason = gettext(
                "%(label)s is not included in the tree of checkpoint size %(size)s"
            ) % {"label": label, "size": size}
            return None, reason, [*problems, reason]
        inclusion = JournalInclusion(
            index=entry.index,
            checkpoint_size=size,
            root=self.signed.root.hex(),
            hashes=[node.hex() for node in proof],
            note=self.checkpoint.note,
        )
        return inclusion, "", problems
