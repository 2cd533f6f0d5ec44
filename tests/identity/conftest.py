"""Real identity providers on loopback: oidc-provider (Node) and a small ESIA.

The OpenID provider is the npm package oidc-provider, installed with
`npm ci` into tests/identity/provider/ on first use (or by `make
test-node-deps`), and run by node. Tests that need it are skipped when
`node` is not installed.
"""

import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from django.conf import settings

from identity import esia_provider
from protokol.accounts import oidc
from protokol.signing import pki

PROVIDER_DIR = Path(__file__).parent / "provider"
HOST = "127.0.0.1"
# Ports this suite's providers listen on.
PORTS = range(18400, 18500)
START_TIMEOUT_SECONDS = 60
CALLBACK_HOST = "http://testserver"

# A SNILS whose checksum matches (112-233-445 95).
SNILS = "11223344595"

ACCOUNTS = {
    "anna": {
        "password": "anna-pass",
        "claims": {
            "given_name": "Анна",
            "middle_name": "Сергеевна",
            "family_name": "Иванова",
            "snils": "112-233-445 95",
            "verified": True,
        },
    },
    "boris": {
        "password": "boris-pass",
        "claims": {
            "given_name": "Борис",
            "family_name": "Петров",
            "snils": "112-233-445 95",
            "verified": False,
        },
    },
    "olga": {
        "password": "olga-pass",
        "claims": {
            "given_name": "Ольга",
            "family_name": "Смирнова",
            "protokol_role": "operator",
            "protokol_departments": ["A"],
        },
    },
    "visitor": {
        "password": "visitor-pass",
        "claims": {"given_name": "Гость", "family_name": "Без роли"},
    },
}


def free_port() -> int:
    """Return a free loopback port of this suite's range."""
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


def _install_provider() -> None:
    """Install the npm packages of the provider from package-lock.json, once."""
    if (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed; it installs oidc-provider for these tests")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PROVIDER_DIR, check=True)


def _wait_for(process: subprocess.Popen, url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"oidc-provider exited with {process.returncode}:\n"
                f"{log_path.read_text()}"
            )
        try:
            requests.get(url, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise RuntimeError(f"oidc-provider did not answer {url}:\n{log_path.read_text()}")


@dataclass(frozen=True)
class OpenIdProvider:
    """A running oidc-provider: its issuer and its clients' credentials."""

    issuer: str
    clients: dict[str, dict]


def _client(name: str) -> dict:
    return {
        "client_id": f"protokol-{name}",
        "client_secret": f"secret-of-protokol-{name}",
        "redirect_uris": [f"{CALLBACK_HOST}/login/oidc/{name}/callback/"],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    }


@pytest.fixture(scope="session")
def openid_provider(tmp_path_factory) -> OpenIdProvider:
    """Run oidc-provider on loopback for the whole session."""
    node = shutil.which("node")
    if node is None:
        pytest.skip(
            "node is not installed: the OpenID Connect tests run the npm package "
            "oidc-provider; install Node.js 18 or newer to run them"
        )
    _install_provider()

    port = free_port()
    issuer = f"http://{HOST}:{port}"
    clients = {name: _client(name) for name in ("citizen", "staff")}
    config = {
        "issuer": issuer,
        "port": port,
        "clients": list(clients.values()),
        "accounts": ACCOUNTS,
    }
    log_path = tmp_path_factory.mktemp("oidc-provider") / "provider.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [node, "server.mjs"],
            cwd=PROVIDER_DIR,
            env={**os.environ, "PROVIDER_CONFIG": json.dumps(config)},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            discovery = issuer + oidc.DISCOVERY_PATH
            _wait_for(process, discovery, log_path)
            yield OpenIdProvider(issuer=issuer, clients=clients)
        finally:
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture
def citizen_oidc(openid_provider, monkeypatch) -> OpenIdProvider:
    """Configure the citizens' OpenID client against the running provider."""
    client = openid_provider.clients["citizen"]
    monkeypatch.setattr(settings.CONFIG, "oidc_issuer", openid_provider.issuer)
    monkeypatch.setattr(settings.CONFIG, "oidc_discovery_url", "")
    monkeypatch.setattr(settings.CONFIG, "oidc_client_id", client["client_id"])
    monkeypatch.setattr(settings.CONFIG, "oidc_client_secret", client["client_secret"])
    return openid_provider


@pytest.fixture
def staff_oidc(openid_provider, monkeypatch) -> OpenIdProvider:
    """Configure the staff OpenID client against the running provider."""
    client = openid_provider.clients["staff"]
    config = settings.CONFIG
    monkeypatch.setattr(config, "oidc_staff_issuer", openid_provider.issuer)
    monkeypatch.setattr(config, "oidc_staff_client_id", client["client_id"])
    monkeypatch.setattr(config, "oidc_staff_client_secret", client["client_secret"])
    return openid_provider


def drive_provider(authorization_url: str, login: str, password: str) -> str:
    """Sign in at the provider and consent over HTTP; return the callback URL.

    Follows the provider's redirects, answering its login and consent
    interactions, until it redirects back to Protokol.
    """
    browser = requests.Session()
    url = authorization_url
    for _ in range(10):
        if url.startswith(CALLBACK_HOST):
            return url
        if "/interaction/" in urlsplit(url).path:
            prompt = browser.get(url, timeout=10).json()["prompt"]
            if prompt == "login":
                response = browser.post(
                    url + "/login",
                    data={"login": login, "password": password},
                    allow_redirects=False,
                    timeout=10,
                )
            else:
                response = browser.post(
                    url + "/confirm", allow_redirects=False, timeout=10
                )
        else:
            response = browser.get(url, allow_redirects=False, timeout=10)
        assert response.status_code in (302, 303), response.text
        url = urljoin(url, response.headers["Location"])
    raise AssertionError(f"the provider never redirected back; last URL {url}")


def local_path(url: str) -> str:
    """Return the path and query of a URL on the test server."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


@pytest.fixture
def seal_certificate(pki_dir):
    """The installation's seal certificate, which signs ESIA client secrets."""
    return pki.organisation_identity("seal").certificate


ESIA_CLIENT_ID = "PROTOKOL"
ESIA_PERSONS = {
    "1000299353": {
        "firstName": "Анна",
        "middleName": "Сергеевна",
        "lastName": "Иванова",
        "snils": "112-233-445 95",
        "trusted": True,
    },
    "1000299354": {"firstName": "Пётр", "lastName": "Сидоров", "trusted": False},
}


@pytest.fixture
def esia(seal_certificate, monkeypatch, tmp_path) -> esia_provider.EsiaProvider:
    """Run the ESIA test provider and configure Protokol's ESIA client for it."""
    key, certificate = esia_provider.self_signed("ESIA test provider")
    provider = esia_provider.EsiaProvider(
        client_id=ESIA_CLIENT_ID,
        client_certificate=seal_certificate,
        signing_key=key,
        persons=ESIA_PERSONS,
    )
    server = esia_provider.start(provider, free_port())
    certificate_file = tmp_path / "esia.pem"
    certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))

    config = settings.CONFIG
    monkeypatch.setattr(config, "esia_url", provider.url)
    monkeypatch.setattr(config, "esia_issuer", provider.issuer)
    monkeypatch.setattr(config, "esia_client_id", ESIA_CLIENT_ID)
    monkeypatch.setattr(config, "esia_certificate_file", certificate_file)
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
