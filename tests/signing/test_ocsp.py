"""The PKI's OCSP responder: statuses, the AIA URL, pyHanko over loopback HTTP."""

import asyncio
import io
import os
import subprocess
import sys
from types import SimpleNamespace

import pikepdf
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.x509 import ocsp as x509_ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID
from django.conf import settings
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import RevokedError
from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend

from protokol.documents.pades import to_asn1
from protokol.signing import crl, ocsp, pki
from uvicorn_process import serve


def ocsp_request(certificate, *, nonce: bytes | None = None) -> bytes:
    builder = x509_ocsp.OCSPRequestBuilder().add_certificate(
        certificate, pki.root_certificate(), hashes.SHA256()
    )
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def ocsp_urls(certificate) -> list[str]:
    access = certificate.extensions.get_extension_for_class(
        x509.AuthorityInformationAccess
    ).value
    return [
        item.access_location.value
        for item in access
        if item.access_method == AuthorityInformationAccessOID.OCSP
    ]


def staff_member(username: str) -> SimpleNamespace:
    return SimpleNamespace(pk=0, username=username, display_name=username.title())


def test_seal_certificate_names_responder(pki_dir):
    seal = pki.organisation_identity("seal").certificate

    assert ocsp_urls(seal) == [pki.ocsp_url()]
    assert pki.ocsp_url().endswith("/pki/ocsp")


def test_seal_status_good_with_nonce(pki_dir, db):
    seal = pki.organisation_identity("seal").certificate

    response = x509_ocsp.load_der_ocsp_response(
        ocsp.respond(ocsp_request(seal, nonce=b"0123456789abcdef"))
    )

    assert response.response_status == x509_ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificate_status == x509_ocsp.OCSPCertStatus.GOOD
    assert response.serial_number == seal.serial_number
    nonce = response.extensions.get_extension_for_class(x509.OCSPNonce).value
    assert nonce.nonce == b"0123456789abcdef"
    pki.root_certificate().public_key().verify(
        response.signature,
        response.tbs_response_bytes,
        PKCS1v15(),
        response.signature_hash_algorithm,
    )


def test_revoked_certificate_reported_revoked(pki_dir, db):
    certificate = pki.issue_user_certificate(staff_member("ocsprevoked"))
    crl.revoke(certificate, "key_compromise")

    response = x509_ocsp.load_der_ocsp_response(ocsp.respond(ocsp_request(certificate)))

    assert response.certificate_status == x509_ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_reason == x509.ReasonFlags.key_compromise


def test_seal_status_skips_staff_files(pki_dir, db):
    member = pki.issue_user_certificate(staff_member("ocspmember"))
    seal = pki.organisation_identity("seal").certificate
    # A staff file that does not parse: every sealed copy requests the seal's status,
    # which must not depend on reading each staff member's certificate.
    (pki_dir / "users" / "unreadable.pem").write_bytes(b"not a certificate")

    seal_status = ocsp.certificate_response(seal).certificate_status
    (pki_dir / "users" / "unreadable.pem").unlink()
    member_status = ocsp.certificate_response(member).certificate_status

    assert seal_status == x509_ocsp.OCSPCertStatus.GOOD
    assert member_status == x509_ocsp.OCSPCertStatus.GOOD


def test_unknown_serial_and_malformed_request(pki_dir, db):
    stranger = pki.issue_user_certificate(staff_member("ocspstranger"))
    (pki_dir / "users" / "ocspstranger.pem").unlink()

    unknown = x509_ocsp.load_der_ocsp_response(ocsp.respond(ocsp_request(stranger)))
    malformed = x509_ocsp.load_der_ocsp_response(ocsp.respond(b"not DER"))

    assert unknown.certificate_status == x509_ocsp.OCSPCertStatus.UNKNOWN
    assert malformed.response_status == x509_ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_http_endpoint_rejects_wrong_media_type(pki_dir, client, db):
    response = client.post("/pki/ocsp", b"x", content_type="text/plain")

    assert response.status_code == 415


def protokol_command(data_dir, pki_dir, *args) -> subprocess.CompletedProcess:
    """Run a `protokol` command on the database of the loopback server."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "PROTOKOL_DEMO": "1",
        "PROTOKOL_DATA_DIR": str(data_dir),
        "PROTOKOL_DATABASE_URL": "",
        "PROTOKOL_PKI_DIR": str(pki_dir),
    }
    command = [sys.executable, "-c", "from protokol.cli import main; main()", *args]
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def responder(pki_dir, tmp_path_factory):
    """Protokol under uvicorn on loopback with the test PKI and its own database."""
    data_dir = tmp_path_factory.mktemp("ocsp-server")
    protokol_command(data_dir, pki_dir, "migrate", "--verbosity", "0")
    with serve(
        data_dir, {"PROTOKOL_PKI_DIR": str(pki_dir)}, ready_path="/pki/root.cer"
    ) as server:
        yield SimpleNamespace(url=f"{server.url}/pki/ocsp", data_dir=data_dir)


@pytest.fixture
def responder_url(responder, monkeypatch):
    """Point the AIA of certificates issued in the test at the loopback responder."""
    monkeypatch.setattr(settings.CONFIG, "pki_ocsp_url", responder.url)
    return responder.url


def fetching_context() -> ValidationContext:
    """A pyHanko context that must fetch revocation data from the AIA URL."""
    # The requests backend, because the default aiohttp one leaves its
    # session open at exit.
    return ValidationContext(
        trust_roots=[to_asn1(pki.root_certificate())],
        allow_fetching=True,
        revocation_mode="require",
        fetcher_backend=RequestsFetcherBackend(),
    )


def test_pyhanko_fetches_good_status(pki_dir, responder_url):
    certificate = pki.issue_user_certificate(staff_member("ocspgood"))
    assert ocsp_urls(certificate) == [responder_url]
    context = fetching_context()

    validator = CertificateValidator(to_asn1(certificate), validation_context=context)
    asyncio.run(validator.async_validate_usage({"digital_signature"}))

    assert len(context.ocsps) == 1


def test_pyhanko_sees_revoked(pki_dir, responder, responder_url):
    certificate = pki.issue_user_certificate(staff_member("ocspgone"))
    protokol_command(
        responder.data_dir, pki_dir, "pki", "revoke", "ocspgone",
        "--reason", "key_compromise",
    )  # fmt: skip
    # Without a CRL distribution point, pyHanko can learn it only by OCSP.
    assert settings.CONFIG.pki_crl_url == ""

    validator = CertificateValidator(
        to_asn1(certificate), validation_context=fetching_context()
    )
    with pytest.raises(RevokedError, match="revoked"):
        asyncio.run(validator.async_validate_usage({"digital_signature"}))


def test_sealed_copy_validates_by_embedded_ocsp(pki_dir, db):
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    from protokol.documents import pades

    blank = io.BytesIO()
    with pikepdf.new() as pdf:
        pdf.add_blank_page()
        pdf.save(blank)
    sealed = pades.sign_copy(
        blank.getvalue(), seal_box=None, stamp_text="%(signer)s", reason="test"
    )

    dss = DocumentSecurityStore.read_dss(PdfFileReader(io.BytesIO(sealed)))
    assert len(dss.ocsps) == 2
    # No CRL and no fetching: the seal validates only through the OCSP response.
    context = dss.as_validation_context(
        {
            "trust_roots": [to_asn1(pki.root_certificate())],
            "allow_fetching": False,
            "revocation_mode": "require",
        }
    )
    context = ValidationContext(
        trust_roots=[to_asn1(pki.root_certificate())],
        ocsps=context.ocsps,
        allow_fetching=False,
        revocation_mode="require",
    )
    seal = to_asn1(pki.organisation_identity("seal").certificate)
    validator = CertificateValidator(seal, validation_context=context)
    asyncio.run(validator.async_validate_usage({"non_repudiation"}))
