"""A local CA and a server certificate for serving Protokol over HTTPS directly.

`make run-tls` calls `ensure_certificate` through `protokol tls-cert`. The
files live in `$PROTOKOL_DATA_DIR/tls/`:

    ca.pem, ca.key.pem          self-signed local CA (ECDSA P-256, 5 years)
    server.pem, server.key.pem  server certificate for localhost, 127.0.0.1
                                and ::1 (ECDSA P-256, 397 days)

Keys are created once with mode 0600. The server certificate is issued
again from the same keys when it expires within 30 days, when the CA
changed, or when it lacks a requested host name. Clients trust `ca.pem`.
"""

import datetime
import ipaddress
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import structlog
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from protokol.keyfiles import create_private_file

log = structlog.get_logger(__name__)

DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")
CA_DAYS = 5 * 365
# Browsers reject server certificates valid for more than 398 days.
SERVER_DAYS = 397
RENEW_BEFORE = datetime.timedelta(days=30)
# A label of a host name (RFC 1123): ASCII letters, digits and inner hyphens.
DNS_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
DNS_NAME_MAX_CHARS = 253


class InvalidHost(ValueError):
    """A host for the certificate is neither a DNS name nor an IP address."""


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the local CA certificate and the server certificate and key."""

    ca_certificate: Path
    certificate: Path
    key: Path


def validate_host(host: str) -> None:
    """Raise InvalidHost unless `host` is an IP address or a DNS host name."""
    if _is_ip_address(host) or _is_dns_name(host):
        return
    raise InvalidHost(
        f"{host!r} is not a valid DNS name or IP address. Give a name of ASCII "
        "letters, digits, hyphens and dots, such as server.example.org, or an "
        "address such as 192.0.2.10."
    )


def _is_ip_address(host: str) -> bool:
    """Check for an IP address without an IPv6 zone ("%eth0"), which a SAN lacks."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return "%" not in host


def _is_dns_name(host: str) -> bool:
    """Check for at most 253 characters of labels, the leftmost possibly "*".

    A last label of digits only is no name but an invalid IPv4 address.
    """
    labels = host.split(".")
    if len(labels) > 1 and labels[0] == "*":
        labels = labels[1:]
    return (
        len(host) <= DNS_NAME_MAX_CHARS
        and all(DNS_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()
    )


def ensure_certificate(directory: Path, hosts=DEFAULT_HOSTS) -> TlsFiles:
    """Create the CA and server certificate under `directory` unless usable.

    Raises:
        InvalidHost: a host is neither a DNS name nor an IP address.
    """
    for host in hosts:
        validate_host(host)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    files = TlsFiles(
        ca_certificate=directory / "ca.pem",
        certificate=directory / "server.pem",
        key=directory / "server.key.pem",
    )
    now = datetime.datetime.now(datetime.UTC)

    ca_key = _load_or_create_key(directory / "ca.key.pem")
    ca_certificate = _load_certificate(files.ca_certificate)
    if ca_certificate is None or not _usable(ca_certificate, ca_key, now):
        ca_certificate = _issue_ca(ca_key, now)
        _write_public(files.ca_certificate, ca_certificate)
        log.info("tls_ca_issued", path=str(files.ca_certificate))

    server_key = _load_or_create_key(files.key)
    certificate = _load_certificate(files.certificate)
    if (
        certificate is None
        or not _usable(certificate, server_key, now)
        or not _issued_by(certificate, ca_certificate)
        or not _covers(certificate, hosts)
    ):
        certificate = _issue_server(server_key, ca_key, ca_certificate, hosts, now)
        _write_public(files.certificate, certificate)
        log.info("tls_certificate_issued", path=str(files.certificate), hosts=hosts)
    return files


def _load_or_create_key(path: Path) -> ec.EllipticCurvePrivateKey:
    if not path.exists():
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # False means another process created it first, and its key is read below.
        create_private_file(path, pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(
            f"TLS key {path} is not an EC private key. Remove it to generate one."
        )
    return key


def _load_certificate(path: Path) -> x509.Certificate | None:
    if not path.exists():
        return None
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError:
        log.warning("tls_certificate_unreadable", path=str(path))
        return None


def _usable(certificate, key, now: datetime.datetime) -> bool:
    """Check that `certificate` belongs to `key` and stays valid for 30 more days."""
    same_key = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return same_key and certificate.not_valid_after_utc - RENEW_BEFORE > now


def _issued_by(certificate, ca_certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(ca_certificate)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _covers(certificate: x509.Certificate, hosts) -> bool:
    try:
        names = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value
    except x509.ExtensionNotFound:
        return False
    present = {str(name.value) for name in names}
    return all(str(_general_name(host).value) in present for host in hosts)


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _issue_ca(key, now: datetime.datetime) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Protokol"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Protokol local TLS CA"),
        ]
    )
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), False)
        .sign(key, hashes.SHA256())
    )


def _issue_server(key, ca_key, ca_certificate, hosts, now) -> x509.Certificate:
    names = [_general_name(host) for host in hosts]
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _write_public(path: Path, certificate: x509.Certificate) -> None:
    """Replace `path` atomically, so a running server never reads half a file."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(certificate.public_bytes(serialization.Encoding.PEM))
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)
