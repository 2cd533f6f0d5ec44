"""Decrypted seal, TSA and root keys kept in memory, and when they are dropped."""

import io
import shutil

import pikepdf
import pytest
from django.conf import settings
from fontTools import subset

from protokol.signing import pki, signers, tsa


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
