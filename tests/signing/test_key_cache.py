"""Keys, parsed files and signature checks kept in memory, and when they are dropped."""

import io
import shutil

import pikepdf
import pytest
from django.conf import settings
from fontTools import subset

from consultations.factories import consultation_in
from protokol.consultations.models import Status
from protokol.signing import crl, pki, reports, signers, tsa
from protokol.signing.models import Signature


@pytest.fixture
def decryptions(pki_dir, monkeypatch):
    """Count the key files decrypted, starting with nothing cached."""
    counted = []
    load_key = pki._load_key

    def counting(path):
        counted.append(path.name)
        return load_key(path)

    pki.forget_keys()
    monkeypatch.setattr(pki, "_load_key", counting)
    yield counted
    pki.forget_keys()


@pytest.fixture
def own_pki(pki_dir, tmp_path, monkeypatch):
    """A copy of the test PKI that a test may change."""
    directory = tmp_path / "pki"
    shutil.copytree(pki_dir, directory)
    monkeypatch.setattr(settings.CONFIG, "pki_dir", directory)
    pki.forget_keys()
    yield directory
    pki.forget_keys()


def test_seal_key_decrypted_once(decryptions):
    first = signers.seal_signer()
    second = signers.seal_signer()
    signers.SoftwareSigner().sign(
        b"data", pki.organisation_identity("seal"), timestamp=False
    )

    assert second is first
    assert decryptions == ["seal.key.pem"]


def test_tsa_and_root_keys_decrypted_once(decryptions):
    tsa.issue_token(bytes(32))
    tsa.issue_token(bytes(32))
    pki.root_key()
    pki.root_key()

    assert decryptions == ["tsa.key.pem", "root.key.pem"]


def test_staff_keys_decrypted_for_each_signature(decryptions):
    for _ in range(2):
        signers.SoftwareSigner().sign(
            b"data", pki.user_identity("reviewer"), timestamp=False
        )

    assert decryptions == ["reviewer.key.pem", "reviewer.key.pem"]


def test_cached_key_expires(decryptions, monkeypatch):
    monkeypatch.setattr(pki, "KEY_CACHE_SECONDS", 0)

    signers.seal_signer()
    signers.seal_signer()

    assert decryptions == ["seal.key.pem", "seal.key.pem"]


def test_new_seal_files_replace_cached_signer(own_pki):
    before = signers.seal_signer()
    (own_pki / "seal.pem").unlink()
    (own_pki / "seal.key.pem").unlink()
    pki.init_pki()

    after = signers.seal_signer()

    assert after is not before
    assert after.signing_cert.serial_number != before.signing_cert.serial_number
    current = pki.organisation_identity("seal").certificate
    assert after.signing_cert.serial_number == current.serial_number


def test_changed_passphrase_drops_cached_key(own_pki, monkeypatch):
    signers.seal_signer()
    monkeypatch.setattr(settings.CONFIG, "pki_passphrase", "not the passphrase")

    with pytest.raises(ValueError):
        signers.seal_signer()


def test_missing_key_file_names_it(own_pki):
    (own_pki / "seal.key.pem").unlink()

    with pytest.raises(pki.PkiNotConfigured, match=r"seal\.key\.pem does not exist"):
        signers.seal_signer()


def test_stamp_font_subset_once_per_text(pki_dir, db, monkeypatch):
    from protokol.documents import pades

    # The stamp font is cut from PT Sans once, before the counting starts.
    pades.stamp_font_path()
    subsets = []
    original = subset.Subsetter.subset

    def counting(self, font):
        subsets.append(font)
        return original(self, font)

    monkeypatch.setattr(subset.Subsetter, "subset", counting)
    monkeypatch.setattr(pades, "_stamp_subsets", {})
    blank = io.BytesIO()
    with pikepdf.new() as pdf:
        pdf.add_blank_page()
        pdf.save(blank)

    for _ in range(2):
        sealed = pades.sign_copy(
            blank.getvalue(),
            seal_box=(20, 20, 220, 80),
            stamp_text="Seal\n%(signer)s\nTime: %(ts)s",
            reason="test",
        )

    assert len(subsets) == 1
    with pikepdf.open(io.BytesIO(sealed)) as pdf:
        fonts = [
            item
            for item in pdf.objects
            if isinstance(item, pikepdf.Dictionary) and "/FontFile2" in item
        ]
    assert fonts


def test_rewritten_certificate_parsed_again(own_pki):
    first = pki.root_certificate()
    tsa_serial = pki.organisation_identity("tsa").certificate.serial_number

    assert pki.root_certificate() is first
    (own_pki / "seal.pem").write_bytes((own_pki / "tsa.pem").read_bytes())
    assert pki.organisation_identity("seal").certificate.serial_number == tsa_serial


def test_revocation_replaces_parsed_crl(own_pki, db):
    first = crl.current_crl()
    seal = pki.organisation_identity("seal").certificate

    assert crl.current_crl() is first
    crl.revoke(seal)
    current = crl.current_crl()
    assert current is not first
    assert current.get_revoked_certificate_by_serial_number(seal.serial_number)


@pytest.fixture
def cms_checks(monkeypatch):
    """Count the calls of check_cms, starting with no result kept."""
    calls = []
    check_cms = reports.check_cms

    def counting(*args, **kwargs):
        calls.append(args[0])
        return check_cms(*args, **kwargs)

    reports._cms_checks.clear()
    monkeypatch.setattr(reports, "check_cms", counting)
    yield calls
    reports._cms_checks.clear()


def test_signature_check_reused(own_pki, demo, cms_checks):
    consultation = consultation_in(demo, Status.SIGNED)
    first = reports.signature_reports(consultation)
    checked = len(cms_checks)
    second = reports.signature_reports(consultation)

    assert checked == len(first) == 2
    assert len(cms_checks) == checked
    assert [report.cms for report in second] == [report.cms for report in first]
    assert all(report.ok for report in second)


def test_new_crl_checks_signatures_again(own_pki, demo, cms_checks):
    consultation = consultation_in(demo, Status.SIGNED)
    reports.signature_reports(consultation)
    crl.revoke(pki.user_certificate("reviewer"))
    reports.signature_reports(consultation)

    assert len(cms_checks) == 4


def test_altered_signature_checked_again(own_pki, demo, cms_checks):
    consultation = consultation_in(demo, Status.SIGNED)
    signature = Signature.objects.filter(consultation=consultation).first()
    trust = reports._TrustInputs(
        roots=[pki.root_certificate()],
        revocations=crl.current_crl(),
        timestamp_roots=[],
    )
    document = bytes(signature.document)
    valid = reports.checked_cms(bytes(signature.cms), document, trust)
    altered = reports.checked_cms(bytes(signature.cms), document + b" ", trust)

    assert valid.problems == ()
    assert not altered.signature_valid
    assert len(cms_checks) == 2
