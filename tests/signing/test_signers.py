"""The software signer's CAdES signatures, checked with `openssl cms`."""

import hashlib

import pytest
from asn1crypto import cms
from pyhanko.sign.general import as_signing_certificate_v2

from protokol.signing import pki, signers, tsa

from .conftest import openssl

DATA = (
    b'{"protocol":"\xd0\x9f\xd1\x80\xd0\xbe\xd1\x82\xd0\xbe\xd0\xba\xd0\xbe\xd0\xbb"}'
)


@pytest.fixture(scope="module")
def signed(pki_dir):
    return signers.SoftwareSigner().sign(DATA, pki.user_identity("reviewer"))


def verify(tmp_path, signature: bytes, data: bytes, root_pem):
    (tmp_path / "sig.der").write_bytes(signature)
    (tmp_path / "data.bin").write_bytes(data)
    return openssl(
        "cms", "-verify", "-binary", "-inform", "DER", "-in", tmp_path / "sig.der",
        "-content", tmp_path / "data.bin", "-CAfile", root_pem, "-purpose", "any",
        "-out", tmp_path / "out.bin",
    )  # fmt: skip


def test_openssl_accepts_signature(signed, tmp_path, root_pem):
    result = verify(tmp_path, signed.cms, DATA, root_pem)

    assert result.returncode == 0, result.stderr.decode()
    assert "Verification successful" in result.stderr.decode()


def test_openssl_rejects_changed_data(signed, tmp_path, root_pem):
    result = verify(tmp_path, signed.cms, DATA.replace(b"{", b"[", 1), root_pem)

    assert result.returncode != 0
    assert "Verification failure" in result.stderr.decode()


def test_signature_is_detached_cades(signed):
    content = cms.ContentInfo.load(signed.cms)["content"]
    attributes = {
        attribute["type"].native
        for attribute in content["signer_infos"][0]["signed_attrs"]
    }

    assert content["encap_content_info"]["content"].native is None
    assert "signing_certificate_v2" in attributes
    assert "message_digest" in attributes


def test_signature_embeds_chain(signed, pki_dir):
    content = cms.ContentInfo.load(signed.cms)["content"]
    subjects = [
        certificate.chosen.subject.dump() for certificate in content["certificates"]
    ]
    root = tsa._to_asn1(pki.root_certificate())
    reviewer = tsa._to_asn1(pki.user_certificate("reviewer"))

    assert root.subject.dump() in subjects
    assert reviewer.subject.dump() in subjects


def test_signature_timestamp_verifies(signed, tmp_path, pki_dir, root_pem):
    token = signers.signature_timestamp_token(cms.ContentInfo.load(signed.cms))
    signature = cms.ContentInfo.load(signed.cms)["content"]["signer_infos"][0]
    digest = hashlib.sha256(signature["signature"].native).hexdigest()
    (tmp_path / "token.der").write_bytes(token.dump())

    result = openssl(
        "ts", "-verify", "-in", tmp_path / "token.der", "-token_in",
        "-digest", digest, "-CAfile", root_pem, "-untrusted", pki_dir / "tsa.pem",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr.decode()
    assert signed.timestamp_time == tsa.token_time(token)


def test_result_fields(signed):
    certificate = pki.user_certificate("reviewer")

    assert signed.signed_data_sha256 == hashlib.sha256(DATA).hexdigest()
    assert signed.certificate_serial == pki.serial_hex(certificate)
    assert "UID=reviewer" in signed.certificate_subject


def test_sign_without_timestamp(pki_dir):
    result = signers.SoftwareSigner().sign(
        DATA, pki.organisation_identity("seal"), timestamp=False
    )

    assert result.timestamp_time is None
    assert signers.signature_timestamp_token(cms.ContentInfo.load(result.cms)) is None


def test_seal_signing_certificate_attribute(pki_dir, tmp_path, root_pem):
    identity = pki.organisation_identity("seal")
    # The seal's pyHanko signer is kept between signatures, with the
    # attribute it encoded for the first one.
    first = signers.SoftwareSigner().sign(DATA, identity)
    second = signers.SoftwareSigner().sign(DATA, identity)
    expected = as_signing_certificate_v2(signers._to_asn1(identity.certificate))

    assert signers.seal_signer().signing_certificate_v2.dump() == expected.dump()
    for result in (first, second):
        signer_info = cms.ContentInfo.load(result.cms)["content"]["signer_infos"][0]
        values = [
            attribute["values"][0]
            for attribute in signer_info["signed_attrs"]
            if attribute["type"].native == "signing_certificate_v2"
        ]
        assert [value.dump() for value in values] == [expected.dump()]
        checked = verify(tmp_path, result.cms, DATA, root_pem)
        assert checked.returncode == 0, checked.stderr.decode()
