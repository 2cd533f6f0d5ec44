"""fetch_timestamp against a TSA over real HTTP: the built-in one under uvicorn
and small loopback servers that respond wrongly on purpose."""

import datetime
import hashlib
import http.server
import socket
import threading
from contextlib import contextmanager

import pytest
from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import translation

from consultations.factories import consultation_in
from protokol.consultations.models import Consultation, Status
from protokol.journal.models import JournalEntry
from protokol.protocols.services import latest_version
from protokol.signing import signers, tsa, tsa_client
from protokol.signing.models import Signature
from protokol.signing.services import sign_protocol
from uvicorn_process import free_port, serve

from .conftest import openssl

DATA = "Протокол консультации".encode()
DIGEST = hashlib.sha256(DATA).digest()


@pytest.fixture(scope="module")
def http_tsa(pki_dir, tmp_path_factory):
    """The built-in TSA at /pki/tsa of a uvicorn subprocess on loopback."""
    data_dir = tmp_path_factory.mktemp("tsa-server")
    with serve(
        data_dir, {"PROTOKOL_PKI_DIR": str(pki_dir)}, ready_path="/pki/root.cer"
    ) as server:
        yield server


@pytest.fixture(autouse=True)
def _english_messages():
    # The checks below read the English message texts.
    with translation.override("en"):
        yield


@pytest.fixture
def use_tsa(monkeypatch):
    """Point PROTOKOL_TSA_URL, and optionally the CA file, at a test server."""

    def configure(url, ca_file=None, timeout=10.0):
        monkeypatch.setattr(settings.CONFIG, "tsa_url", url)
        monkeypatch.setattr(settings.CONFIG, "tsa_ca_file", ca_file)
        monkeypatch.setattr(settings.CONFIG, "tsa_timeout_seconds", timeout)

    return configure


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        query = self.rfile.read(int(self.headers["Content-Length"]))
        status, body = self.server.respond(query)
        self.send_response(status)
        self.send_header("Content-Type", tsa_client.REPLY_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextmanager
def loopback_tsa(respond):
    """Serve `respond(query) -> (HTTP status, body)` over HTTP; yield the URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.respond = respond
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/tsa"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def stamp_altered(change):
    """Return a responder that stamps the query after `change(request)` edits it."""

    def respond(query):
        request = tsp.TimeStampReq.load(query)
        change(request)
        return 200, tsa.respond(request.dump(force=True))

    return respond


def other_ca_pem(tmp_path):
    """Write a self-signed CA that issued nothing the TSA uses; return its path."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Other CA")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "other-ca.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def verify_token(token: cms.ContentInfo, tmp_path, pki_dir, *digest_or_data):
    path = tmp_path / "token.der"
    path.write_bytes(token.dump())
    return openssl(
        "ts", "-verify", "-in", path, "-token_in", *digest_or_data,
        "-CAfile", pki_dir / "root.pem", "-untrusted", pki_dir / "tsa.pem",
    )  # fmt: skip


def test_http_token_passes_openssl(http_tsa, use_tsa, pki_dir, root_pem, tmp_path):
    use_tsa(http_tsa.url + "/pki/tsa", ca_file=root_pem)
    data = tmp_path / "data.bin"
    data.write_bytes(DATA)

    token = tsa_client.fetch_timestamp(DIGEST)
    result = verify_token(token, tmp_path, pki_dir, "-data", data)

    assert result.returncode == 0, result.stderr.decode()
    assert "Verification: OK" in result.stdout.decode()
    assert "POST /pki/tsa" in http_tsa.log()


def test_http_token_without_ca_file(http_tsa, use_tsa, pki_dir, tmp_path):
    use_tsa(http_tsa.url + "/pki/tsa")

    token = tsa_client.fetch_timestamp(hashlib.sha512(DATA).digest(), "sha512")
    result = verify_token(
        token, tmp_path, pki_dir, "-digest", hashlib.sha512(DATA).hexdigest()
    )

    assert result.returncode == 0, result.stderr.decode()


def test_builtin_tsa_when_url_empty(use_tsa, pki_dir, tmp_path):
    use_tsa("")

    token = tsa_client.fetch_timestamp(DIGEST)
    result = verify_token(token, tmp_path, pki_dir, "-digest", DIGEST.hex())

    assert result.returncode == 0, result.stderr.decode()


@pytest.fixture
def approved(demo, pki_dir):
    return consultation_in(demo, Status.APPROVED)


def test_cades_t_over_http(
    http_tsa, use_tsa, approved, demo, pki_dir, root_pem, tmp_path
):
    use_tsa(http_tsa.url + "/pki/tsa", ca_file=root_pem)
    requests_before = http_tsa.log().count("POST /pki/tsa")

    with transaction.atomic():
        signatures = sign_protocol(approved, latest_version(approved), demo["reviewer"])

    assert len(signatures) == 2
    assert http_tsa.log().count("POST /pki/tsa") == requests_before + 2
    for signature in signatures:
        signed = cms.ContentInfo.load(bytes(signature.cms))
        value = signed["content"]["signer_infos"][0]["signature"].native
        token = signers.signature_timestamp_token(signed)
        result = verify_token(
            token, tmp_path, pki_dir, "-digest", hashlib.sha256(value).hexdigest()
        )
        assert result.returncode == 0, result.stderr.decode()
        assert signature.timestamp_time is not None


def test_closed_port_unavailable(use_tsa):
    use_tsa(f"http://127.0.0.1:{free_port()}/tsa")

    with pytest.raises(tsa_client.TsaUnavailable) as raised:
        tsa_client.fetch_timestamp(DIGEST)

    assert raised.value.status == 503
    assert raised.value.code == "tsa_unavailable"
    assert "cannot be reached" in raised.value.message


def test_silent_server_times_out(use_tsa):
    # The kernel completes the connection from the backlog, but nothing
    # ever reads the request or sends a response.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        use_tsa(f"http://127.0.0.1:{listener.getsockname()[1]}/tsa", timeout=0.5)

        with pytest.raises(tsa_client.TsaUnavailable) as raised:
            tsa_client.fetch_timestamp(DIGEST)

    assert raised.value.status == 503
    assert "within 0.5 seconds" in raised.value.message


@pytest.mark.parametrize(
    ("status", "error", "http_status"),
    [
        (503, tsa_client.TsaUnavailable, 503),
        (500, tsa_client.TsaUnavailable, 503),
        (404, tsa_client.TsaResponseInvalid, 502),
    ],
)
def test_http_error_status(use_tsa, status, error, http_status):
    with loopback_tsa(lambda query: (status, b"down")) as url:
        use_tsa(url)
        with pytest.raises(error) as raised:
            tsa_client.fetch_timestamp(DIGEST)

    assert raised.value.status == http_status
    assert f"HTTP status {status}" in raised.value.message


@pytest.mark.parametrize(
    "body",
    [b"<html>Service temporarily unavailable</html>", b"", b"\x30\x03\x02\x01\x00"],
)
def test_garbage_response_invalid(use_tsa, body):
    with loopback_tsa(lambda query: (200, body)) as url:
        use_tsa(url)
        with pytest.raises(tsa_client.TsaResponseInvalid) as raised:
            tsa_client.fetch_timestamp(DIGEST)

    assert raised.value.status == 502
    assert raised.value.code == "tsa_bad_response"


def test_oversized_response_invalid(use_tsa):
    body = b"\x00" * (tsa_client.MAX_RESPONSE_BYTES + 1)
    with loopback_tsa(lambda query: (200, body)) as url:
        use_tsa(url)
        with pytest.raises(tsa_client.TsaResponseInvalid) as raised:
            tsa_client.fetch_timestamp(DIGEST)

    assert raised.value.code == "tsa_bad_response"


def test_rejection_names_reason(use_tsa, pki_dir):
    def reject(query):
        return 200, tsa._rejection("bad_alg", "Digest algorithm is not accepted.")

    with loopback_tsa(reject) as url:
        use_tsa(url)
        with pytest.raises(tsa_client.TsaRequestRejected) as raised:
            tsa_client.fetch_timestamp(DIGEST)

    assert raised.value.status == 502
    assert raised.value.code == "tsa_rejected"
    assert "Digest algorithm is not accepted" in raised.value.message


def _other_nonce(request):
    request["nonce"] = request["nonce"].native + 1


def _no_nonce(request):
    request["nonce"] = None


@pytest.mark.parametrize("change", [_other_nonce, _no_nonce])
def test_nonce_mismatch(use_tsa, pki_dir, root_pem, change):
    with loopback_tsa(stamp_altered(change)) as url:
        use_tsa(url, ca_file=root_pem)
        with pytest.raises(tsa_client.TsaNonceMismatch) as raised:
            tsa_client.fetch_timestamp(DIGEST)

    assert raised.value.status == 502
    assert raised.value.code == "tsa_nonce_mismatch"


def _other_imprint(request):
    request["message_imprint"]["hashed_message"] = hashlib.sha256(b"other").digest()


def _other_algorithm(request):
    request["message_imprint"] = tsp.MessageImprint(
        {
            "hash_algorithm": {"algorithm": "sha512"},
            "hashed_message": hashlib.sha512(DATA).digest(),
        }
    )


@pytest.mark.parametrize("change", [_other_imprint, _other_algorithm])
def test_wrong_imprint(use_tsa, pki_dir, root_pem, change):
    with loopback_tsa(stamp_altered(change)) as url:
        use_tsa(url, ca_file=root_pem)
        with pytest.raises(tsa_client.TsaImprintMismatch) as raised:
            tsa_client.fetch_timestamp(DIGEST)

    assert raised.value.status == 502
    assert raised.value.code == "tsa_imprint_mismatch"


def test_untrusted_certificate(http_tsa, use_tsa, pki_dir, tmp_path):
    use_tsa(http_tsa.url + "/pki/tsa", ca_file=other_ca_pem(tmp_path))

    with pytest.raises(tsa_client.TsaCertificateUntrusted) as raised:
        tsa_client.fetch_timestamp(DIGEST)

    assert raised.value.status == 502
    assert raised.value.code == "tsa_untrusted"
    assert "PROTOKOL_TSA_CA_FILE" in raised.value.message


def test_unreadable_ca_file_names_setting(http_tsa, use_tsa, pki_dir, tmp_path):
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("not a certificate")
    use_tsa(http_tsa.url + "/pki/tsa", ca_file=ca_file)

    with pytest.raises(ImproperlyConfigured, match="PROTOKOL_TSA_CA_FILE"):
        tsa_client.fetch_timestamp(DIGEST)


def test_token_without_certificate_untrusted(use_tsa, pki_dir, root_pem):
    # A token without the TSA certificate cannot be checked against the CA file.
    def no_cert(request):
        request["cert_req"] = False

    with loopback_tsa(stamp_altered(no_cert)) as url:
        use_tsa(url, ca_file=root_pem)
        with pytest.raises(tsa_client.TsaCertificateUntrusted):
            tsa_client.fetch_timestamp(DIGEST)


def sign_through_api(reviewer_client, consultation):
    return reviewer_client.post(
        f"/api/v1/consultations/{consultation.pk}/transitions",
        {"action": "sign"},
        HTTP_ACCEPT_LANGUAGE="en",
    )


def assert_nothing_written(consultation, entries_before):
    consultation.refresh_from_db()
    assert consultation.status == Status.APPROVED
    assert not Signature.objects.filter(consultation=consultation).exists()
    assert JournalEntry.objects.count() == entries_before


def test_api_sign_tsa_down_is_503(use_tsa, approved, api_client):
    use_tsa(f"http://127.0.0.1:{free_port()}/tsa")
    reviewer = api_client.login("reviewer")
    entries_before = JournalEntry.objects.count()

    response = sign_through_api(reviewer, approved)

    assert response.status_code == 503, response.content
    assert response.json()["error"] == "tsa_unavailable"
    assert "timestamp authority" in response.json()["message"]
    assert_nothing_written(approved, entries_before)


def test_api_sign_seal_stamp_fails_502(use_tsa, approved, api_client, pki_dir):
    # The reviewer's signature gets its token, the seal's gets garbage, so the
    # reviewer's Signature row exists for a moment and must be rolled back.
    queries = []

    def first_good_then_garbage(query):
        queries.append(query)
        if len(queries) == 1:
            return 200, tsa.respond(query)
        return 200, b"garbage"

    reviewer = api_client.login("reviewer")
    entries_before = JournalEntry.objects.count()
    with loopback_tsa(first_good_then_garbage) as url:
        use_tsa(url)
        response = sign_through_api(reviewer, approved)

    assert len(queries) == 2
    assert response.status_code == 502, response.content
    assert response.json()["error"] == "tsa_bad_response"
    assert_nothing_written(approved, entries_before)


def test_page_sign_tsa_down_is_503(use_tsa, approved, demo, client):
    use_tsa(f"http://127.0.0.1:{free_port()}/tsa")
    client.force_login(demo["reviewer"])
    entries_before = JournalEntry.objects.count()

    response = client.post(
        f"/consultations/{approved.pk}/transitions/",
        {"action": "sign"},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    new_entries = JournalEntry.objects.order_by("index")[entries_before:]
    assert response.status_code == 503
    assert "timestamp authority cannot be reached" in response.content.decode()
    # The page shown again journals its read; the transition left no entry.
    assert [entry.action for entry in new_entries] == ["consultation:read"]
    assert refreshed_status(approved) == Status.APPROVED
    assert not Signature.objects.filter(consultation=approved).exists()


def refreshed_status(consultation) -> str:
    return Consultation.objects.get(pk=consultation.pk).status
