"""The built-in RFC 3161 TSA, checked with `openssl ts`."""

import hashlib

import pytest
from asn1crypto import tsp
from django.conf import settings

from protokol.signing import tsa

from .conftest import openssl

pytestmark = pytest.mark.urls("signing.urls")

DATA = "Протокол консультации".encode()


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    return path


def make_query(tmp_path, data_file, *options):
    query = tmp_path / "request.tsq"
    result = openssl("ts", "-query", "-data", data_file, *options, "-out", query)
    assert result.returncode == 0, result.stderr.decode()
    return query


def post_query(client, tmp_path, query):
    response = client.post(
        "/pki/tsa", data=query.read_bytes(), content_type="application/timestamp-query"
    )
    reply = tmp_path / "reply.tsr"
    reply.write_bytes(response.content)
    return response, reply


def test_issued_token_verifies(pki_dir, root_pem, data_file, tmp_path):
    token = tmp_path / "token.der"
    token.write_bytes(tsa.issue_token(hashlib.sha256(DATA).digest()))

    result = openssl(
        "ts", "-verify", "-in", token, "-token_in", "-data", data_file,
        "-CAfile", root_pem, "-untrusted", pki_dir / "tsa.pem",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr.decode()
    assert "Verification: OK" in result.stdout.decode()


def test_token_over_other_data_fails(pki_dir, root_pem, tmp_path):
    token = tmp_path / "token.der"
    token.write_bytes(tsa.issue_token(hashlib.sha256(DATA).digest()))
    other = tmp_path / "other.bin"
    other.write_bytes(DATA + b".")

    result = openssl(
        "ts", "-verify", "-in", token, "-token_in", "-data", other,
        "-CAfile", root_pem, "-untrusted", pki_dir / "tsa.pem",
    )  # fmt: skip

    assert result.returncode != 0


def test_endpoint_answers_openssl_query(pki_dir, root_pem, data_file, tmp_path, client):
    query = make_query(tmp_path, data_file, "-sha256", "-cert")

    response, reply = post_query(client, tmp_path, query)
    text = openssl("ts", "-reply", "-in", reply, "-text")
    verify = openssl(
        "ts", "-verify", "-in", reply, "-queryfile", query,
        "-CAfile", root_pem, "-untrusted", pki_dir / "tsa.pem",
    )  # fmt: skip

    assert response.status_code == 200
    assert response["Content-Type"] == "application/timestamp-reply"
    assert "Status: Granted." in text.stdout.decode()
    assert f"Policy OID: {settings.CONFIG.tsa_policy_oid}" in text.stdout.decode()
    assert verify.returncode == 0, verify.stderr.decode()


def test_endpoint_embeds_no_certificate_unless_asked(
    pki_dir, root_pem, data_file, tmp_path, client
):
    query = make_query(tmp_path, data_file, "-sha512", "-no_nonce")

    _, reply = post_query(client, tmp_path, query)
    token = tsp.TimeStampResp.load(reply.read_bytes())["time_stamp_token"]
    verify = openssl(
        "ts", "-verify", "-in", reply, "-queryfile", query,
        "-CAfile", root_pem, "-untrusted", pki_dir / "tsa.pem",
    )  # fmt: skip

    assert not token["content"]["certificates"]
    assert verify.returncode == 0, verify.stderr.decode()


def test_endpoint_rejects_sha1(pki_dir, data_file, tmp_path, client):
    query = make_query(tmp_path, data_file, "-sha1", "-cert")

    response, reply = post_query(client, tmp_path, query)
    status = tsa.TimeStampResponse.load(response.content)["status"]
    text = openssl("ts", "-reply", "-in", reply, "-text")

    assert response.status_code == 200
    assert status["status"].native == "rejection"
    assert status["fail_info"].native == {"bad_alg"}
    assert "Status: Rejected." in text.stdout.decode()
    assert "unrecognized or unsupported algorithm" in text.stdout.decode()


def test_endpoint_rejects_other_policy(pki_dir, data_file, tmp_path, client):
    query = make_query(tmp_path, data_file, "-sha256", "-tspolicy", "1.2.3.4")

    response, _ = post_query(client, tmp_path, query)
    status = tsa.TimeStampResponse.load(response.content)["status"]

    assert status["fail_info"].native == {"unaccepted_policy"}


def test_endpoint_rejects_garbage(pki_dir, client):
    response = client.post(
        "/pki/tsa", data=b"\x30\x03\x02\x01", content_type="application/timestamp-query"
    )
    status = tsa.TimeStampResponse.load(response.content)["status"]

    assert status["status"].native == "rejection"
    assert status["fail_info"].native == {"bad_data_format"}


def test_endpoint_wrong_content_type(pki_dir, client):
    response = client.post("/pki/tsa", data=b"x", content_type="text/plain")

    assert response.status_code == 415


def test_endpoint_get_not_allowed(pki_dir, client):
    assert client.get("/pki/tsa").status_code == 405


def test_endpoint_oversized_request(pki_dir, client):
    response = client.post(
        "/pki/tsa",
        data=b"\x00" * (tsa.MAX_QUERY_BYTES + 1),
        content_type="application/timestamp-query",
    )

    assert response.status_code == 413


def test_endpoint_disabled(pki_dir, client, monkeypatch):
    monkeypatch.setattr(settings.CONFIG, "tsa_http_enabled", False)

    response = client.post(
        "/pki/tsa", data=b"x", content_type="application/timestamp-query"
    )

    assert response.status_code == 404
