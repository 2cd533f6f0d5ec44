"""The PKI: files, key protection, certificate profiles and the pki command."""

import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from django.conf import settings
from django.core.management import CommandError, call_command

from protokol.signing import crl, pki

from .conftest import openssl


def test_init_writes_private_files_0600(pki_dir):
    for name in ("passphrase", "root.key.pem", "seal.key.pem", "tsa.key.pem"):
        mode = stat.S_IMODE((pki_dir / name).stat().st_mode)
        assert mode == 0o600, name


def test_keys_encrypted_at_rest(pki_dir):
    pem = (pki_dir / "seal.key.pem").read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(pem, password=None)
    with pytest.raises(ValueError):
        serialization.load_pem_private_key(pem, password=b"wrong")


def test_init_again_changes_nothing(pki_dir):
    before = {path.name: path.read_bytes() for path in pki_dir.glob("*.pem")}

    result = pki.init_pki()

    assert result.created == ()
    after = {path.name: path.read_bytes() for path in pki_dir.glob("*.pem")}
    assert after == before


def test_tsa_certificate_timestamping_critical(pki_dir):
    certificate = pki.organisation_identity("tsa").certificate

    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)

    assert usage.critical
    assert list(usage.value) == [ExtendedKeyUsageOID.TIME_STAMPING]


def test_root_is_ca_and_leaves_are_not(pki_dir):
    root = pki.root_certificate()
    seal = pki.organisation_identity("seal").certificate

    root_constraints = root.extensions.get_extension_for_class(x509.BasicConstraints)
    seal_constraints = seal.extensions.get_extension_for_class(x509.BasicConstraints)

    assert root_constraints.value.ca
    assert not seal_constraints.value.ca
    assert seal.issuer == root.subject


def test_openssl_verifies_every_chain(pki_dir, root_pem):
    leaves = [pki_dir / "seal.pem", pki_dir / "tsa.pem", pki_dir / "users/reviewer.pem"]

    result = openssl("verify", "-CAfile", root_pem, *leaves)

    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().count(": OK") == 3


def test_pki_dir_required_outside_demo(pki_dir, monkeypatch):
    monkeypatch.setattr(settings.CONFIG, "demo", False)
    monkeypatch.setattr(settings.CONFIG, "pki_dir", None)

    with pytest.raises(pki.PkiNotConfigured, match="PROTOKOL_PKI_DIR"):
        pki.pki_dir()


def test_passphrase_required_outside_demo(tmp_path, monkeypatch):
    monkeypatch.setattr(settings.CONFIG, "demo", False)
    monkeypatch.setattr(settings.CONFIG, "pki_dir", tmp_path)
    monkeypatch.setattr(settings.CONFIG, "pki_passphrase", "")

    with pytest.raises(pki.PkiNotConfigured, match="PROTOKOL_PKI_PASSPHRASE"):
        pki.passphrase()


def test_unsafe_username_rejected(pki_dir):
    with pytest.raises(ValueError, match="cannot name a certificate file"):
        pki.user_certificate("../root")


def test_issue_command_for_citizen_rejected(pki_dir, demo):
    with pytest.raises(CommandError, match="role 'citizen'"):
        call_command("pki", "issue", "citizen")


def test_issue_command_unknown_user(pki_dir, demo):
    with pytest.raises(CommandError, match="not found"):
        call_command("pki", "issue", "nobody")


def test_issue_command_keeps_valid_certificate(pki_dir, demo, capsys):
    before = pki.user_certificate("reviewer")

    call_command("pki", "issue", "reviewer")

    assert "already has certificate" in capsys.readouterr().out
    assert pki.user_certificate("reviewer") == before


def test_issue_renew_revokes_previous(pki_dir, demo, capsys):
    call_command("pki", "issue", "operator")
    first = pki.user_certificate("operator")

    call_command("pki", "issue", "operator", "--renew")
    second = pki.user_certificate("operator")

    assert second.serial_number != first.serial_number
    assert second.public_key() != first.public_key()
    assert crl.is_revoked(first)
    assert not crl.is_revoked(second)
