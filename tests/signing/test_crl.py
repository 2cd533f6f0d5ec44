"""Revocation: the append-only table, the CRL and its URL."""

import pytest
from cryptography import x509
from django.core.management import CommandError, call_command
from django.db import DatabaseError, transaction

from protokol.signing import crl, pki
from protokol.signing.models import Revocation

from .conftest import REVIEWER, openssl

pytestmark = pytest.mark.urls("signing.urls")


@pytest.fixture
def revoked(pki_dir, db, tmp_path):
    """A throw-away user certificate, revoked for key compromise."""
    user = type(REVIEWER)(pk=0, username="revoked-operator", display_name="Олег")
    certificate = pki.issue_user_certificate(user)
    crl.revoke(certificate, "key_compromise")
    return certificate


def test_openssl_shows_revoked_serial(revoked, pki_dir, root_pem):
    crl_pem = pki_dir / crl.CRL_FILE

    text = openssl("crl", "-in", crl_pem, "-noout", "-text")
    verify = openssl("crl", "-in", crl_pem, "-noout", "-CAfile", root_pem, "-verify")

    assert text.returncode == 0, text.stderr.decode()
    serial = format(revoked.serial_number, "X")
    # openssl prints whole bytes, so an odd number of hex digits gets a 0.
    serial = serial.zfill(len(serial) + len(serial) % 2)
    assert f"Serial Number: {serial}" in text.stdout.decode()
    assert "Key Compromise" in text.stdout.decode()
    assert verify.returncode == 0, verify.stderr.decode()
    assert "verify OK" in verify.stderr.decode() + verify.stdout.decode()


def test_crl_numbers_increase(pki_dir, db):
    first = crl.issue_crl()
    second = crl.issue_crl()

    number = x509.CRLNumber
    first_number = first.extensions.get_extension_for_class(number).value.crl_number
    second_number = second.extensions.get_extension_for_class(number).value.crl_number

    assert second_number > first_number


def test_revoke_twice_rejected(revoked):
    with pytest.raises(crl.AlreadyRevoked):
        crl.revoke(revoked, "superseded")


def test_unknown_reason_rejected(pki_dir, db):
    with pytest.raises(ValueError, match="Unknown revocation reason"):
        crl.revoke(pki.root_certificate(), "bored")


def test_revocation_update_rejected(revoked):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Revocation.objects.update(reason="unspecified")


def test_revocation_delete_rejected(revoked):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Revocation.objects.all().delete()


def test_crl_view_serves_der(revoked, client):
    response = client.get("/pki/crl")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pkix-crl"
    served = x509.load_der_x509_crl(response.content)
    assert served.get_revoked_certificate_by_serial_number(revoked.serial_number)
    assert served.is_signature_valid(pki.root_certificate().public_key())


def test_root_view_serves_der(pki_dir, client):
    response = client.get("/pki/root.cer")

    assert response.status_code == 200
    assert x509.load_der_x509_certificate(response.content) == pki.root_certificate()


def test_revoke_command(pki_dir, demo, capsys):
    call_command("pki", "issue", "supervisor")
    certificate = pki.user_certificate("supervisor")

    call_command("pki", "revoke", "supervisor", "--reason", "superseded")

    assert crl.is_revoked(certificate)
    assert pki.serial_hex(certificate) in capsys.readouterr().out


def test_revoke_command_without_certificate(pki_dir, demo):
    with pytest.raises(CommandError, match="no certificate"):
        call_command("pki", "revoke", "auditor")
