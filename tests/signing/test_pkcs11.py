"""The pkcs11 signer backend against a private SoftHSM2 token.

The module makes its own PKI with PROTOKOL_SIGNER_BACKEND=pkcs11, so the
seal's and the reviewer's keys are generated on the token, while the root and
the TSA keep their key files.
"""

import hashlib
import io
import os
import shutil
import subprocess
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pydantic
import pytest
from asn1crypto import cms
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from pkcs11 import Attribute, ObjectClass

from consultations.factories import consultation_in
from protokol.consultations.models import Status
from protokol.errors import Conflict
from protokol.journal import checkpoints
from protokol.journal.models import JournalEntry
from protokol.settings import Config
from protokol.signing import pki, signers, tokens
from protokol.signing.models import Signature
from protokol.signing.reports import signature_reports

from .conftest import REVIEWER, openssl

MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
TOKEN = "protokol-test"
PIN = "4711-0815"
DATA = "Протокол консультации".encode()
OTHER_USER = SimpleNamespace(pk=0, username="operator", display_name="Олег Орлов")

if shutil.which("softhsm2-util") is None or not MODULE.exists():
    pytest.skip(
        "softhsm2-util or libsofthsm2.so is missing: install the Debian package "
        "softhsm2 (make system-deps-test does).",
        allow_module_level=True,
    )


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory) -> dict:
    """A SoftHSM2 token and a PKI whose seal and reviewer keys are on it.

    Session-scoped, because SoftHSM2 reads SOFTHSM2_CONF only when the
    module is first loaded; returns the settings that select the token.
    """
    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {base / 'tokens'}\n"
        "objectstore.backend = file\nlog.level = ERROR\n"
    )
    config = {
        "pki_dir": tmp_path_factory.mktemp("pki-pkcs11"),
        "demo": True,
        "signer_backend": "pkcs11",
        "pkcs11_module": MODULE,
        "pkcs11_token": TOKEN,
        "pkcs11_pin": PIN,
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOFTHSM2_CONF", str(conf))
        subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", TOKEN,
             "--pin", PIN, "--so-pin", "so-" + PIN],
            check=True, capture_output=True,
        )  # fmt: skip
        with pytest.MonkeyPatch.context() as settings_patch:
            for name, value in config.items():
                settings_patch.setattr(settings.CONFIG, name, value)
            pki.init_pki()
            pki.issue_user_certificate(REVIEWER)
        yield config


@pytest.fixture
def token_pki(softhsm, monkeypatch) -> Path:
    """Select the pkcs11 backend and the token's PKI for one test."""
    for name, value in softhsm.items():
        monkeypatch.setattr(settings.CONFIG, name, value)
    return softhsm["pki_dir"]


@pytest.fixture
def signed(token_pki):
    return signers.default_signer().sign(DATA, pki.user_identity("reviewer"))


def token_objects(object_class, label: str) -> list[dict]:
    attributes = (Attribute.ID, Attribute.SENSITIVE, Attribute.EXTRACTABLE,
                  Attribute.NEVER_EXTRACTABLE, Attribute.LOCAL)  # fmt: skip
    with tokens.session() as session:
        found = session.get_objects(
            {Attribute.CLASS: object_class, Attribute.LABEL: label}
        )
        if object_class is not ObjectClass.PRIVATE_KEY:
            return [{Attribute.ID: item[Attribute.ID]} for item in found]
        return [{name: item[name] for name in attributes} for item in found]


def openssl_verify(tmp_path, signature: bytes, data: bytes, root: Path):
    (tmp_path / "sig.der").write_bytes(signature)
    (tmp_path / "data.bin").write_bytes(data)
    return openssl(
        "cms", "-verify", "-binary", "-inform", "DER", "-in", tmp_path / "sig.der",
        "-content", tmp_path / "data.bin", "-CAfile", root, "-purpose", "any",
        "-out", tmp_path / "out.bin",
    )  # fmt: skip


def test_backend_setting_picks_signer(token_pki):
    assert isinstance(signers.default_signer(), signers.Pkcs11Signer)
    with pytest.raises(pydantic.ValidationError, match="signer_backend"):
        Config(signer_backend="hsm")


def test_keys_generated_on_token_never_extractable(token_pki):
    for name in ("seal", "user:reviewer"):
        keys = token_objects(ObjectClass.PRIVATE_KEY, name)
        certificate = (
            pki.organisation_identity("seal")
            if name == "seal"
            else pki.user_identity("reviewer")
        ).certificate

        assert len(keys) == 1
        assert keys[0][Attribute.ID] == tokens.key_id(certificate.public_key())
        assert keys[0][Attribute.SENSITIVE] is True
        assert keys[0][Attribute.EXTRACTABLE] is False
        assert keys[0][Attribute.NEVER_EXTRACTABLE] is True
        assert keys[0][Attribute.LOCAL] is True
        assert len(token_objects(ObjectClass.CERTIFICATE, name)) == 1
    assert not (token_pki / "seal.key.pem").exists()
    assert not (token_pki / "users" / "reviewer.key.pem").exists()
    assert (token_pki / "tsa.key.pem").exists()


def test_openssl_accepts_token_signature(signed, tmp_path, token_pki):
    result = openssl_verify(tmp_path, signed.cms, DATA, token_pki / "root.pem")
    changed = openssl_verify(tmp_path, signed.cms, DATA + b" ", token_pki / "root.pem")

    assert result.returncode == 0, result.stderr.decode()
    assert "Verification successful" in result.stderr.decode()
    assert changed.returncode != 0


def test_token_signature_is_cades_t(signed, tmp_path, token_pki):
    signed_data = cms.ContentInfo.load(signed.cms)
    signer_info = signed_data["content"]["signer_infos"][0]
    attributes = {item["type"].native for item in signer_info["signed_attrs"]}
    token = signers.signature_timestamp_token(signed_data)
    digest = hashlib.sha256(signer_info["signature"].native).hexdigest()
    (tmp_path / "token.der").write_bytes(token.dump())

    result = openssl(
        "ts", "-verify", "-in", tmp_path / "token.der", "-token_in",
        "-digest", digest, "-CAfile", token_pki / "root.pem",
        "-untrusted", token_pki / "tsa.pem",
    )  # fmt: skip

    assert "signing_certificate_v2" in attributes
    assert signed_data["content"]["encap_content_info"]["content"].native is None
    assert result.returncode == 0, result.stderr.decode()
    assert signed.timestamp_time is not None
    assert signed.certificate_serial == pki.serial_hex(pki.user_certificate("reviewer"))


def test_signed_protocol_verifies_like_software(token_pki, demo, tmp_path):
    consultation = consultation_in(demo, Status.SIGNED)
    checkpoints.issue_checkpoint()
    reports = signature_reports(consultation)
    bundle = tmp_path / "bundle.zip"
    call_command(
        "verify", export=[str(consultation.pk), str(bundle)], stderr=io.StringIO()
    )
    out = io.StringIO()
    call_command("verify", str(bundle), "--root", token_pki / "root.pem", stdout=out)

    assert [report.signature.kind for report in reports] == ["signer", "seal"]
    assert [report.problems for report in reports] == [[], []]
    assert all(report.cms.signing_certificate_matches for report in reports)
    assert "FAIL" not in out.getvalue()
    assert out.getvalue().count("PASS") == 6
    with zipfile.ZipFile(bundle) as archive:
        names = [name for name in archive.namelist() if name.endswith(".p7s")]
        for name in names:
            data = archive.read("document.json")
            result = openssl_verify(
                tmp_path, archive.read(name), data, token_pki / "root.pem"
            )
            assert result.returncode == 0, result.stderr.decode()


def test_import_software_key(token_pki, monkeypatch, tmp_path):
    monkeypatch.setattr(settings.CONFIG, "signer_backend", "software")
    pki.issue_user_certificate(OTHER_USER)
    monkeypatch.setattr(settings.CONFIG, "signer_backend", "pkcs11")
    identity = pki.user_identity("operator")
    out = io.StringIO()

    call_command("pki", "pkcs11-import", "user:operator", stdout=out)
    call_command("pki", "pkcs11-import", "user:operator", stdout=out)
    result = signers.Pkcs11Signer().sign(DATA, identity, timestamp=False)
    keys = token_objects(ObjectClass.PRIVATE_KEY, "user:operator")

    assert "Imported the key and certificate of user:operator" in out.getvalue()
    assert "already has the key of user:operator" in out.getvalue()
    assert str(identity.key_file) in out.getvalue()
    assert len(keys) == 1
    assert keys[0][Attribute.EXTRACTABLE] is False
    assert keys[0][Attribute.NEVER_EXTRACTABLE] is False
    assert result.timestamp_time is None
    verified = openssl_verify(tmp_path, result.cms, DATA, token_pki / "root.pem")
    assert verified.returncode == 0, verified.stderr.decode()


def test_import_rejects_tsa_and_unknown(token_pki):
    with pytest.raises(CommandError, match="TSA key stays a file"):
        call_command("pki", "pkcs11-import", "tsa")
    with pytest.raises(CommandError, match="user:nobody has no certificate"):
        call_command("pki", "pkcs11-import", "user:nobody")
    with pytest.raises(CommandError, match="no key file"):
        call_command("pki", "pkcs11-import", "seal")


def test_key_missing_on_token_names_import(token_pki, monkeypatch):
    monkeypatch.setattr(settings.CONFIG, "signer_backend", "software")
    supervisor = SimpleNamespace(pk=0, username="supervisor", display_name="Сергей")
    pki.issue_user_certificate(supervisor)
    identity = pki.user_identity("supervisor")

    with pytest.raises(tokens.TokenUnavailable) as raised:
        signers.Pkcs11Signer().sign(DATA, identity, timestamp=False)

    assert "has no key labelled 'user:supervisor'" in str(raised.value)
    assert "protokol pki pkcs11-import user:supervisor" in str(raised.value)


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("pkcs11_pin", "0000", "rejected the PIN: check PROTOKOL_PKCS11_PIN"),
        ("pkcs11_pin", "", "PROTOKOL_PKCS11_PIN or PROTOKOL_PKCS11_PIN_FILE is not"),
        ("pkcs11_token", "absent", "No token labelled 'absent'"),
        ("pkcs11_token", "", "PROTOKOL_PKCS11_TOKEN is not set"),
        ("pkcs11_module", Path("/nonexistent/p11.so"), "PROTOKOL_PKCS11_MODULE"),
        ("pkcs11_module", None, "PROTOKOL_PKCS11_MODULE is not set"),
    ],
)
def test_bad_setting_named(token_pki, monkeypatch, setting, value, named):
    monkeypatch.setattr(settings.CONFIG, setting, value)

    with pytest.raises(tokens.TokenUnavailable, match=named) as raised:
        signers.default_signer().sign(DATA, pki.organisation_identity("seal"))

    assert isinstance(raised.value, pki.PkiNotConfigured)
    if setting == "pkcs11_token" and value:
        assert "PROTOKOL_PKCS11_TOKEN" in str(raised.value)


def test_pin_file(token_pki, monkeypatch, tmp_path):
    pin_file = tmp_path / "pin"
    pin_file.write_text(PIN + "\n")
    monkeypatch.setattr(settings.CONFIG, "pkcs11_pin", "")
    monkeypatch.setattr(settings.CONFIG, "pkcs11_pin_file", pin_file)

    result = signers.default_signer().sign(
        DATA, pki.organisation_identity("seal"), timestamp=False
    )
    pin_file.unlink()

    assert result.certificate_serial == pki.serial_hex(
        pki.organisation_identity("seal").certificate
    )
    with pytest.raises(tokens.TokenUnavailable, match="PROTOKOL_PKCS11_PIN_FILE"):
        signers.default_signer().sign(DATA, pki.organisation_identity("seal"))


def test_wrong_pin_signs_nothing(token_pki, demo, monkeypatch):
    from protokol.consultations import services

    consultation = consultation_in(demo, Status.APPROVED)
    entries = JournalEntry.objects.count()
    monkeypatch.setattr(settings.CONFIG, "pkcs11_pin", "0000")

    with pytest.raises(Conflict) as raised:
        services.transition(demo["reviewer"], consultation.pk, action="sign")

    consultation.refresh_from_db()
    assert raised.value.field == "action"
    assert "PROTOKOL_PKCS11_PIN" in raised.value.message
    assert consultation.status == Status.APPROVED
    assert not Signature.objects.filter(consultation=consultation).exists()
    assert JournalEntry.objects.count() == entries


def test_token_made_after_start_is_found(token_pki, monkeypatch):
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", "later",
         "--pin", PIN, "--so-pin", "so-" + PIN],
        check=True, capture_output=True, env=os.environ,
    )  # fmt: skip
    monkeypatch.setattr(settings.CONFIG, "pkcs11_token", "later")

    with tokens.session() as session:
        assert session.token.label == "later"


def test_renew_signs_with_new_key(token_pki, demo, tmp_path):
    call_command("pki", "issue", "operator2", stdout=io.StringIO())
    first = pki.user_certificate("operator2")
    call_command("pki", "issue", "operator2", "--renew", stdout=io.StringIO())
    identity = pki.user_identity("operator2")

    result = signers.default_signer().sign(DATA, identity, timestamp=False)
    verified = openssl_verify(tmp_path, result.cms, DATA, token_pki / "root.pem")
    keys = token_objects(ObjectClass.PRIVATE_KEY, "user:operator2")

    assert identity.certificate.serial_number != first.serial_number
    assert verified.returncode == 0, verified.stderr.decode()
    assert result.certificate_serial == pki.serial_hex(identity.certificate)
    assert {key[Attribute.ID] for key in keys} == {
        tokens.key_id(first.public_key()),
        tokens.key_id(identity.certificate.public_key()),
    }


def test_key_without_certificate_reused(token_pki):
    first = tokens.generate_key("user:interrupted")
    second = tokens.generate_key("user:interrupted")

    assert first.public_numbers() == second.public_numbers()
    assert len(token_objects(ObjectClass.PRIVATE_KEY, "user:interrupted")) == 1


def test_concurrent_signatures_all_verify(token_pki, tmp_path):
    seal = pki.organisation_identity("seal")

    def sign(number):
        data = DATA + str(number).encode()
        return data, signers.default_signer().sign(data, seal, timestamp=False)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(sign, range(8)))

    assert len(results) == 8
    for data, result in results:
        verified = openssl_verify(tmp_path, result.cms, data, token_pki / "root.pem")
        assert verified.returncode == 0, verified.stderr.decode()


def test_sealed_copy_signed_on_token(token_pki, demo):
    from pyhanko.pdf_utils.reader import PdfFileReader

    from protokol.documents.pdfcheck import verify_pdf
    from protokol.documents.services import issue_copy

    consultation = consultation_in(demo, Status.SIGNED)

    _, content = issue_copy(demo["citizen"], consultation.pk)

    assert not (token_pki / "seal.key.pem").exists()
    checks = verify_pdf(content, root=token_pki / "root.pem")
    assert [check.name for check in checks if not check.ok] == []
    seal = PdfFileReader(io.BytesIO(content)).embedded_regular_signatures[0]
    certificate = pki.organisation_identity("seal").certificate
    assert seal.signer_cert.serial_number == certificate.serial_number


def test_sealed_copy_without_token_key_names_import(token_pki, monkeypatch):
    from protokol.documents import pades

    monkeypatch.setattr(tokens, "has_private_key", lambda *args: False)

    with pytest.raises(tokens.TokenUnavailable) as raised:
        pades.sign_copy(b"%PDF-1.7", seal_box=None, stamp_text="%(ts)s", reason="x")

    assert "has no key labelled 'seal'" in str(raised.value)
    assert "protokol pki pkcs11-import seal" in str(raised.value)
