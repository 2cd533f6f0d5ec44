"""`protokol verify BUNDLE`: check a signed protocol bundle without the database.

`protokol verify COPY.pdf` checks a sealed protocol copy instead: its PAdES
signatures, the embedded signed document, signatures and journal proof, and
the PDF/A-3 rules (see protokol.documents.pdfcheck).

A bundle is a directory or a zip file with these top-level files:

    document.json   the signed document (canonical JSON), required
    *.p7s           detached CMS signatures over document.json, at least one
    root.pem        the root certificate, unless --root names one
    crl.pem         optional CRL of the root
    proof.txt       optional c2sp.org/tlog-proof@v1 of the signing entry
    entry.json      the signing entry's canonical bytes, needed with proof.txt
    journal.pub     the checkpoint verifier key, unless --key gives one
    acknowledgement.json  optional: the citizen's acknowledgement record
    acknowledgement.cms   the organisation seal's detached CMS over it

The acknowledgement passes when the seal's signature over the record
verifies and the record names document.json's consultation, version and
SHA-256. Its signature is not a .p7s file, because every .p7s file signs
document.json.

`protokol verify --export CONSULTATION_ID OUT.zip` writes one from the
database.
"""

import hashlib
import json
import logging
import os
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography import x509
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation
from django.utils.translation import gettext

from protokol.journal import merkle
from protokol.journal.canonical import format_time, leaf_hash
from protokol.journal.checkpoints import NoteInvalid, parse_verifier_key, verify_note
from protokol.journal.tlog import parse_tlog_proof, tlog_proof_text
from protokol.signing.verify import CHAIN_STATUS_NAMES, check_cms

# A bundle contains a few signatures and one JSON document; anything larger is
# not a bundle this command wrote.
MAX_BUNDLE_FILE_BYTES = 16 * 1024 * 1024
# A sealed copy of a protocol with a long dialogue stays well under this.
MAX_PDF_BYTES = 64 * 1024 * 1024

ACKNOWLEDGEMENT_RECORD = "acknowledgement.json"
ACKNOWLEDGEMENT_CMS = "acknowledgement.cms"


def environment_language() -> str:
    """Return the language of the caller's locale, else English.

    The first of LANGUAGE, LC_ALL, LC_MESSAGES and LANG that is set decides.
    No locale, "C", "POSIX" and languages without a translation give English,
    which the rest of the command line prints.
    """
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if not value:
            continue
        code = value.split(":")[0].split(".")[0].split("@")[0]
        try:
            return translation.get_supported_language_variant(
                code.replace("_", "-").lower()
            )
        except LookupError:
            break
    return "en"


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, whether it passed, and why."""

    name: str
    ok: bool
    detail: str


class Command(BaseCommand):
    help = (
        "Check a signed protocol bundle (directory or zip): the CMS signatures "
        "over document.json, their timestamps and chain, and the journal proof. "
        "Exit 0 only when every check passes."
    )
    requires_system_checks = []

    def create_parser(self, prog_name, subcommand, **kwargs):
        # The console script (protokol.cli) decides from the options as
        # written whether the check runs offline, so they cannot be abbreviated.
        return super().create_parser(
            prog_name, subcommand, allow_abbrev=False, **kwargs
        )

    def add_arguments(self, parser):
        parser.add_argument(
            "bundle",
            nargs="?",
            type=Path,
            help="Directory, zip, or sealed PDF copy (a .pdf name or a PDF header).",
        )
        parser.add_argument(
            "--root",
            type=Path,
            help="Trusted root certificate, PEM or DER (default: root.pem in the "
            "bundle, which is only as trustworthy as the bundle).",
        )
        parser.add_argument(
            "--key",
            help="Checkpoint verifier key from `protokol journal public-key`, or a "
            "file containing it (default: journal.pub in the bundle).",
        )
        parser.add_argument(
            "--json", action="store_true", help="Print the report as JSON."
        )
        parser.add_argument(
            "--online",
            action="store_true",
            help="Also check that the journal checkpoint is a prefix of the live "
            "journal in the configured database (default: offline only).",
        )
        parser.add_argument(
            "--export",
            nargs=2,
            metavar=("CONSULTATION_ID", "OUT_ZIP"),
            help="Write the bundle of a consultation's latest signed version.",
        )

    def run_from_argv(self, argv):
        # From a shell, the report follows the caller's locale: a third party
        # who checks a copy may read Russian or English. call_command skips
        # this method, so there the caller's active language applies.
        with translation.override(environment_language()):
            super().run_from_argv(argv)

    def handle(self, *args, bundle, root, key, json, export, online, **options):
        if export is not None:
            if bundle is not None:
                raise CommandError(gettext("Give either BUNDLE or --export, not both."))
            self.export(*export)
            return
        if bundle is None:
            raise CommandError(gettext("Give a BUNDLE to verify, or --export."))
        if not bundle.exists():
            raise CommandError(
                gettext("File %(path)s does not exist.") % {"path": bundle}
            )
        if root is not None:
            _require_certificate_file(root)

        if is_pdf(bundle):
            checks = self.verify_pdf(bundle, root=root, key=key)
            files = None
        else:
            files = read_bundle(bundle)
            checks = verify_bundle(files, root=root, key=key)
        if online:
            checks.append(self.online_check(bundle, files, key))
        passed = all(check.ok for check in checks)
        if json:
            report = {"ok": passed, "checks": [asdict(check) for check in checks]}
            self.stdout.write(_json_dumps(report))
        else:
            for check in checks:
                mark = "PASS" if check.ok else "FAIL"
                self.stdout.write(f"{mark} {check.name}: {check.detail}")
        if not passed:
            failed = sum(not check.ok for check in checks)
            raise CommandError(
                gettext("Verification failed: %(failed)d of %(total)d checks.")
                % {"failed": failed, "total": len(checks)}
            )

    def verify_pdf(self, path: Path, *, root: Path | None, key) -> list[Check]:
        """Check a sealed protocol copy; the root defaults to the installation's."""
        from protokol.documents.pdfcheck import verify_pdf
        from protokol.signing import pki

        # pikepdf and pyHanko log progress, and pyHanko logs each rejected
        # update with a traceback; the report names every failure already.
        for name in ("pikepdf", "pyhanko", "pyhanko_certvalidator"):
            logging.getLogger(name).setLevel(logging.CRITICAL)

        if path.stat().st_size > MAX_PDF_BYTES:
            raise CommandError(
                gettext("File %(name)s is larger than %(limit)d bytes.")
                % {"name": path.name, "limit": MAX_PDF_BYTES}
            )
        if root is None:
            try:
                root = pki.pki_dir() / "root.pem"
            except pki.PkiNotConfigured as error:
                raise CommandError(
                    gettext(
                        "No installation PKI is configured here: give --root "
                        "with the root certificate of the installation that "
                        "sealed the copy."
                    )
                ) from error
            if not root.is_file():
                raise CommandError(
                    gettext("No installation root at %(path)s: give --root.")
                    % {"path": root}
                )
        return verify_pdf(path.read_bytes(), root=root, key=key)

    def online_check(self, path: Path, files: dict[str, bytes] | None, key) -> Check:
        """Check the proof's checkpoint against the journal in the database."""
        from protokol.documents.pdfcheck import copy_bundle_files
        from protokol.signing.online import journal_consistency_check

        if files is None:
            files = copy_bundle_files(path.read_bytes())
        return journal_consistency_check(files, key)

    def export(self, consultation_id: str, output: str) -> None:
        if not consultation_id.isdigit():
            raise CommandError(
                gettext(
                    "--export: consultation id %(id)r is invalid; give the "
                    "number from the consultation's URL."
                )
                % {"id": consultation_id}
            )
        if Path(output).is_dir():
            raise CommandError(
                gettext(
                    "--export: %(path)s is a directory; give the name of the zip "
                    "file to write, such as %(example)s."
                )
                % {"path": Path(output), "example": Path(output) / "bundle.zip"}
            )
        directory = Path(output).parent
        if not directory.is_dir():
            raise CommandError(
                gettext(
                    "--export: directory %(path)s does not exist; create it or "
                    "choose another OUT_ZIP."
                )
                % {"path": directory}
            )
        files = export_bundle(consultation_id)
        try:
            with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
                for name, data in files.items():
                    archive.writestr(name, data)
        except OSError as error:
            raise CommandError(
                gettext("--export: writing %(path)s failed: %(error)s")
                % {"path": output, "error": error.strerror or error}
            ) from error
        self.stderr.write(
            gettext("Wrote %(count)d files of consultation %(id)s to %(path)s.")
            % {"count": len(files), "id": consultation_id, "path": output}
        )


def is_pdf(path: Path) -> bool:
    """Return whether `path` is a file named .pdf or starting with a PDF header."""
    if not path.is_file():
        return False
    if path.suffix.lower() == ".pdf":
        return True
    with path.open("rb") as file:
        return file.read(5) == b"%PDF-"


def _require_certificate_file(path: Path) -> None:
    """Raise CommandError unless `path` is a file with a PEM or DER certificate."""
    if not path.exists():
        raise CommandError(gettext("File %(path)s does not exist.") % {"path": path})
    if not path.is_file():
        raise CommandError(
            gettext("--root %(path)s is not a file; give the root certificate file.")
            % {"path": path}
        )
    try:
        _load_certificate(path.read_bytes())
    except ValueError as error:
        raise CommandError(
            gettext("--root %(path)s is not a PEM or DER certificate.") % {"path": path}
        ) from error


def export_bundle(consultation_id: str) -> dict[str, bytes]:
    """Return the bundle files of a consultation's latest signed protocol version.

    The read is journaled as consultation:read by the system.

    Raises:
        CommandError: the consultation does not exist or has no signatures.
    """
    from cryptography.hazmat.primitives import serialization

    from protokol.consultations.models import Consultation
    from protokol.journal import checkpoints
    from protokol.journal import services as journal
    from protokol.journal.canonical import canonical_bytes
    from protokol.journal.models import JournalAction, JournalEntry
    from protokol.signing import crl, pki
    from protokol.signing.models import SignatureKind
    from protokol.signing.reports import signature_reports

    consultation = Consultation.objects.filter(pk=consultation_id).first()
    if consultation is None:
        raise CommandError(
            gettext("Consultation %(id)s does not exist.") % {"id": consultation_id}
        )
    reports = signature_reports(consultation)
    if not reports:
        raise CommandError(
            gettext("Consultation %(id)s has no signatures.") % {"id": consultation_id}
        )
    acknowledgements = [
        r for r in reports if r.signature.kind == SignatureKind.ACKNOWLEDGEMENT
    ]
    reports = [r for r in reports if r.signature.kind != SignatureKind.ACKNOWLEDGEMENT]
    version = max(report.signature.protocol_version for report in reports)
    reports = [r for r in reports if r.signature.protocol_version == version]
    acknowledgements = [
        r for r in acknowledgements if r.signature.protocol_version == version
    ]

    # One bundle has one document.json, so signatures whose stored documents
    # differ cannot share it; the signatures report names the changed one.
    document = bytes(reports[0].signature.document)
    differing = [
        r.signature.pk for r in reports if bytes(r.signature.document) != document
    ]
    if differing:
        raise CommandError(
            gettext(
                "Signatures of protocol version %(version)s store different "
                "documents (signature %(ids)s differs from signature %(first)s); "
                "check GET /api/v1/consultations/%(id)s/signatures."
            )
            % {
                "version": version,
                "ids": ", ".join(map(str, differing)),
                "first": reports[0].signature.pk,
                "id": consultation.pk,
            }
        )

    # NOTE: tokens from an external TSA (PROTOKOL_TSA_URL) chain to its own CA,
    # which the bundle does not carry, so offline checks call them untrusted
    # until the bundle includes PROTOKOL_TSA_CA_FILE's certificates.
    pem = serialization.Encoding.PEM
    files = {
        "document.json": document,
        "root.pem": pki.root_certificate().public_bytes(pem),
        "crl.pem": crl.current_crl().public_bytes(pem),
    }
    for report in reports:
        signature = report.signature
        files[f"{signature.kind}-{signature.pk}.p7s"] = bytes(signature.cms)

    for report in acknowledgements:
        files[ACKNOWLEDGEMENT_RECORD] = bytes(report.signature.document)
        files[ACKNOWLEDGEMENT_CMS] = bytes(report.signature.cms)

    inclusion = reports[-1].inclusion
    if inclusion is not None:
        entry = JournalEntry.objects.get(index=inclusion.index)
        proof = [bytes.fromhex(node) for node in inclusion.hashes]
        files["entry.json"] = canonical_bytes(entry)
        files["proof.txt"] = tlog_proof_text(
            inclusion.index, proof, inclusion.note
        ).encode()
        files["journal.pub"] = f"{checkpoints.verifier_key()}\n".encode()

    journal.record_now(
        JournalAction.CONSULTATION_READ,
        actor=None,
        object_type="consultation",
        object_id=consultation.pk,
        object_label=consultation.number,
        consultation_id=consultation.pk,
        after={"via": "cli:verify-export", "protocol_version": version},
    )
    return files


def _json_dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


def read_bundle(path: Path) -> dict[str, bytes]:
    """Return the top-level files of a bundle directory or zip by name.

    Raises:
        CommandError: the path is missing, or a file is too large.
    """
    files = {}
    if path.is_dir():
        for item in sorted(path.iterdir()):
            if item.is_file():
                if item.stat().st_size > MAX_BUNDLE_FILE_BYTES:
                    raise CommandError(_too_large(item.name))
                files[item.name] = item.read_bytes()
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                # Only top-level names, so no member can be read as another.
                if info.is_dir() or "/" in info.filename or "\\" in info.filename:
                    continue
                if info.file_size > MAX_BUNDLE_FILE_BYTES:
                    raise CommandError(_too_large(info.filename))
                files[info.filename] = archive.read(info)
    else:
        raise CommandError(
            gettext("Bundle %(path)s is neither a directory nor a zip file.")
            % {"path": path}
        )
    return files


def _too_large(name: str) -> str:
    return gettext("Bundle file %(name)s is larger than %(limit)d bytes.") % {
        "name": name,
        "limit": MAX_BUNDLE_FILE_BYTES,
    }


def _load_certificate(data: bytes) -> x509.Certificate:
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def verify_bundle(
    files: dict[str, bytes], *, root: Path | None = None, key: str | None = None
) -> list[Check]:
    """Check every signature and the journal proof of a bundle's files.

    Args:
        files: the bundle's files by name, as read_bundle returns them.
        root: a trusted root certificate file; else root.pem in the bundle.
        key: a checkpoint verifier key or a file with one; else journal.pub.

    Returns:
        The checks in order; the bundle passes when every one is ok.
    """
    document = files.get("document.json")
    if document is None:
        return [Check("document", False, gettext("document.json is missing"))]
    digest = hashlib.sha256(document).hexdigest()
    detail = gettext("document.json, SHA-256 %(digest)s") % {"digest": digest}
    checks = [Check("document", True, detail)]

    root_check, roots = _roots(files, root)
    checks.append(root_check)
    crl_check, revocations = _revocations(files, roots)
    if crl_check is not None:
        checks.append(crl_check)

    signatures = sorted(name for name in files if name.endswith(".p7s"))
    if not signatures:
        checks.append(Check("signatures", False, gettext("no .p7s file in the bundle")))
    seal_subjects = set()
    for name in signatures:
        result = check_cms(files[name], document, roots, revocations)
        if name.startswith("seal-") and result.ok:
            seal_subjects.add(result.certificate_subject)
        time = format_time(result.timestamp_time) if result.timestamp_time else "-"
        detail = gettext(
            "%(subject)s, serial number %(serial)s, chain %(chain)s, timestamp %(time)s"
        ) % {
            "subject": result.certificate_subject,
            "serial": result.certificate_serial,
            "chain": CHAIN_STATUS_NAMES.get(result.chain_status, result.chain_status),
            "time": time,
        }
        if result.problems:
            detail += "; " + "; ".join(result.problems)
        checks.append(Check(name, result.ok and bool(roots), detail))

    if ACKNOWLEDGEMENT_RECORD in files or ACKNOWLEDGEMENT_CMS in files:
        checks.append(
            _acknowledgement_check(files, document, roots, revocations, seal_subjects)
        )
    checks.append(_journal_check(files, key, digest))
    return checks


def _acknowledgement_check(
    files, document: bytes, roots, revocations, seal_subjects: set[str]
) -> Check:
    """Check the seal's signature over the acknowledgement and what it binds."""
    name = ACKNOWLEDGEMENT_RECORD
    record_bytes = files.get(ACKNOWLEDGEMENT_RECORD)
    cms_der = files.get(ACKNOWLEDGEMENT_CMS)
    if record_bytes is None or cms_der is None:
        missing = ACKNOWLEDGEMENT_CMS if record_bytes is not None else name
        return Check(name, False, gettext("%(name)s is missing") % {"name": missing})

    result = check_cms(cms_der, record_bytes, roots, revocations)
    problems = list(result.problems)
    if not roots:
        problems.append(gettext("no trusted root to check the seal against"))
    if result.certificate_subject not in seal_subjects:
        problems.append(
            gettext("it is not signed with the seal that signed document.json")
        )
    try:
        record = json.loads(record_bytes)
        signed = json.loads(document)
        protocol = record["protocol"]
        citizen = dict(record["citizen"])
        facts = (
            record["consultation"]["id"],
            protocol["version"],
            protocol["signed_data_sha256"],
        )
        expected = (
            signed["consultation"]["id"],
            signed["protocol"]["version"],
            hashlib.sha256(document).hexdigest(),
        )
    except (ValueError, TypeError, KeyError) as error:
        problems.append(
            gettext("the record is not an acknowledgement: %(error)s")
            % {"error": error}
        )
        return Check(name, False, "; ".join(problems))
    if facts != expected:
        problems.append(
            gettext(
                "the record acknowledges consultation %(id)s, version %(version)s, "
                "sha256 %(sha256)s, not document.json"
            )
            % {"id": facts[0], "version": facts[1], "sha256": facts[2]}
        )

    time = format_time(result.timestamp_time) if result.timestamp_time else "-"
    detail = gettext(
        "%(name)s (user %(user)s) acknowledged document.json at %(at)s from "
        "%(ip)s; sealed by %(seal)s, timestamp %(time)s"
    ) % {
        "name": citizen.get("name"),
        "user": citizen.get("id"),
        "at": record.get("acknowledged_at"),
        "ip": (record.get("client") or {}).get("ip") or "-",
        "seal": result.certificate_subject,
        "time": time,
    }
    if problems:
        detail += "; " + "; ".join(problems)
    return Check(name, not problems, detail)


def _roots(files, root: Path | None) -> tuple[Check, list[x509.Certificate]]:
    if root is not None:
        data, source = root.read_bytes(), str(root)
    elif "root.pem" in files:
        data, source = files["root.pem"], gettext("root.pem in the bundle")
    else:
        message = gettext("no root certificate: give --root or add root.pem")
        return Check("root", False, message), []
    try:
        certificate = _load_certificate(data)
    except ValueError as error:
        message = gettext("root certificate %(source)s is not valid: %(error)s") % {
            "source": source,
            "error": error,
        }
        return Check("root", False, message), []
    fingerprint = certificate.fingerprint(certificate.signature_hash_algorithm)
    detail = gettext("%(subject)s from %(source)s, SHA-256 fingerprint %(fingerprint)s")
    detail %= {
        "subject": certificate.subject.rfc4514_string(),
        "source": source,
        "fingerprint": fingerprint.hex(),
    }
    return Check("root", True, detail), [certificate]


def _revocations(files, roots):
    if "crl.pem" not in files:
        return None, None
    try:
        revocations = x509.load_pem_x509_crl(files["crl.pem"])
    except ValueError as error:
        return Check("crl.pem", False, str(error)), None
    if not any(revocations.is_signature_valid(root.public_key()) for root in roots):
        return Check(
            "crl.pem", False, gettext("the CRL is not signed by the root")
        ), None
    detail = gettext("%(count)d revoked, next update %(time)s") % {
        "count": len(revocations),
        "time": format_time(revocations.next_update_utc),
    }
    return Check("crl.pem", True, detail), revocations


def _journal_check(files, key: str | None, digest: str) -> Check:
    """Check proof.txt against its checkpoint and entry.json against the document."""
    name = "proof.txt"
    if name not in files:
        return Check(name, True, gettext("no journal proof in the bundle; skipped"))
    key_text = key
    if key_text is not None and Path(key_text).is_file():
        key_text = Path(key_text).read_text()
    if key_text is None:
        key_text = files.get("journal.pub", b"").decode()
    if not key_text.strip():
        message = gettext("no verifier key: give --key or add journal.pub")
        return Check(name, False, message)
    if "entry.json" not in files:
        return Check(name, False, gettext("entry.json is missing"))

    try:
        verifier = parse_verifier_key(key_text)
        index, proof, note = parse_tlog_proof(files[name].decode())
        checkpoint = verify_note(note, verifier)
        entry = json.loads(files["entry.json"])
    except (NoteInvalid, ValueError) as error:
        return Check(name, False, str(error))

    leaf = bytes.fromhex(leaf_hash(files["entry.json"]))
    if entry.get("index") != index:
        message = gettext("entry.json is entry %(entry)s, the proof is of %(index)s")
        return Check(
            name, False, message % {"entry": entry.get("index"), "index": index}
        )
    if not merkle.verify_inclusion(
        index, checkpoint.size, leaf, proof, checkpoint.root
    ):
        message = gettext(
            "journal entry %(index)s is not included in the checkpoint of size %(size)s"
        )
        return Check(name, False, message % {"index": index, "size": checkpoint.size})
    after = entry.get("after") or {}
    hashes = {item.get("signed_data_sha256") for item in after.get("signatures") or []}
    if after.get("action") != "sign" or digest not in hashes:
        message = gettext(
            "journal entry %(index)s is not the signing of document.json"
        ) % {"index": index}
        return Check(name, False, message)
    detail = gettext(
        "journal entry %(index)s signs document.json and is included in "
        "checkpoint %(origin)s at size %(size)s"
    ) % {"index": index, "origin": checkpoint.origin, "size": checkpoint.size}
    return Check(name, True, detail)
