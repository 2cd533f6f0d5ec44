"""The installation's PKI: a root CA, the organisation seal, the TSA and operators.

Every certificate and key lives as a PEM file in the PKI directory:

    root.pem, root.key.pem      self-signed root CA
    seal.pem, seal.key.pem      the organisation's electronic seal
    tsa.pem, tsa.key.pem        the timestamp authority (EKU timeStamping, critical)
    users/<username>.pem, users/<username>.key.pem
    crl.pem                     the latest revocation list (see crl.py)

Issued certificates name the OCSP responder (ocsp.py) in their authority
information access.

Private keys are RSA-3072 in PKCS#8, encrypted with the PKI passphrase
(PROTOKOL_PKI_PASSPHRASE, or in demo mode a generated `passphrase` file).
With PROTOKOL_SIGNER_BACKEND=pkcs11 the seal's and staff members' keys are
made on the PKCS#11 token instead (see tokens.py) and have no key file.
"""

import datetime
import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    NameOID,
)
from django.conf import settings

from protokol.keyfiles import create_private_file

log = structlog.get_logger(__name__)

KEY_SIZE = 3072
ROOT_DAYS = 3650
LEAF_DAYS = 1095
USER_DAYS = 365
PASSPHRASE_FILE = "passphrase"
MAX_COMMON_NAME_BYTES = 64
# Django's username characters, without a leading dot so no name is "..".
USERNAME_PATTERN = re.compile(r"[\w@+-][\w.@+-]{0,149}")


class PkiNotConfigured(Exception):
    """The PKI directory, its passphrase or one of its files is missing."""


@dataclass(frozen=True)
class Identity:
    """A certificate with its private key file and the chain up to the root.

    `name` is "seal", "tsa" or "user:<username>"; `chain` lists the issuing
    certificates, the root last.
    """

    name: str
    certificate: x509.Certificate
    key_file: Path
    chain: tuple[x509.Certificate, ...]

    def load_key(self) -> rsa.RSAPrivateKey:
        """Decrypt the identity's private key with the PKI passphrase."""
        return _load_key(self.key_file)


def pki_dir() -> Path:
    """Return the configured PKI directory, or in demo mode <data dir>/pki."""
    config = settings.CONFIG
    if config.pki_dir is not None:
        return config.pki_dir.expanduser()
    if not config.demo:
        raise PkiNotConfigured(
            "PROTOKOL_PKI_DIR is not set: set it to the directory that contains "
            "the signing PKI, then run `protokol pki init`."
        )
    return config.data_dir / "pki"


def passphrase() -> bytes:
    """Return the key passphrase; in demo mode generate it (mode 0600) if unset."""
    config = settings.CONFIG
    if config.pki_passphrase:
        return config.pki_passphrase.encode()

    path = pki_dir() / PASSPHRASE_FILE
    if not path.exists():
        if not config.demo:
            raise PkiNotConfigured(
                "PROTOKOL_PKI_PASSPHRASE is not set: set it to the passphrase "
                "that encrypts the PKI's private keys."
            )
        create_private_file(path, secrets.token_urlsafe(32).encode())
    return path.read_bytes().strip()


def _load_key(path: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=passphrase())
    if not isinstance(key, rsa.RSAPrivateKey):
        raise PkiNotConfigured(f"Private key {path} is not an RSA key.")
    return key


def _load_certificate(path: Path) -> x509.Certificate:
    if not path.exists():
        raise PkiNotConfigured(
            f"Certificate {path} does not exist: run `protokol pki init`."
        )
    return parsed_file(path, x509.load_pem_x509_certificate)


# Parsed certificates and CRLs by file and parser, each with the bytes it was
# parsed from. Every signed copy reads the root, seal and TSA certificates
# and the CRL, and parsing PEM cost more than comparing a few kilobytes.
MAX_PARSED_FILES = 256

_parsed_files: dict[tuple[str, object], tuple[bytes, object]] = {}
_parsed_files_lock = threading.Lock()


def parsed_file(path: Path, parse):
    """Return `parse(path.read_bytes())`, reusing the last result for the same bytes.

    The file is read on every call, so a replaced or rewritten certificate or
    CRL is parsed again at its next use. `parse` must return an immutable
    object, such as a cryptography certificate or CRL.

    Raises:
        FileNotFoundError: `path` does not exist.
    """
    content = path.read_bytes()
    key = (str(path), parse)
    with _parsed_files_lock:
        cached = _parsed_files.get(key)
    if cached is not None and cached[0] == content:
        return cached[1]

    parsed = parse(content)
    with _parsed_files_lock:
        if len(_parsed_files) >= MAX_PARSED_FILES:
            _parsed_files.clear()
        _parsed_files[key] = (content, parsed)
    return parsed


def _key_for(path: Path) -> rsa.RSAPrivateKey:
    """Load the key at `path`, or generate it there if it does not exist yet.

    A key left without its certificate by an interrupted run is reused.
    """
    if path.exists():
        return _load_key(path)
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase()),
    )
    if not create_private_file(path, pem):
        # Another process generated it first: use theirs.
        return _load_key(path)
    return key


def _fit(text: str) -> str:
    """Cut `text` to the 64 UTF-8 bytes that cryptography allows in a common name.

    A cut name ends at a word boundary with "…", so a Cyrillic name of more
    than 32 letters reads as shortened, not as a misspelt last word.
    """
    if len(text.encode()) <= MAX_COMMON_NAME_BYTES:
        return text
    room = MAX_COMMON_NAME_BYTES - len("…".encode())
    cut = text.encode()[:room].decode(errors="ignore")
    if " " in cut.strip():
        cut = cut.rstrip().rsplit(" ", 1)[0]
    return cut.rstrip(" ,.;:-") + "…"


def _name(common_name: str, *, user_id: str | None = None) -> x509.Name:
    attributes = [
        x509.NameAttribute(
            NameOID.ORGANIZATION_NAME, settings.CONFIG.organisation_name
        ),
        x509.NameAttribute(NameOID.COMMON_NAME, _fit(common_name)),
    ]
    if user_id is not None:
        attributes.append(x509.NameAttribute(NameOID.USER_ID, user_id))
    return x509.Name(attributes)


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=not cert_sign,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _build(
    subject: x509.Name,
    public: rsa.RSAPublicKey,
    *,
    issuer: x509.Certificate | None,
    issuer_key: rsa.RSAPrivateKey,
    days: int,
    timestamping: bool = False,
) -> x509.Certificate:
    """Sign a certificate for the key `public`; a root when `issuer` is None."""
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        # Back-dated a little so a verifier with a slow clock accepts it.
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(
            x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True
        )
        .add_extension(_usage(cert_sign=issuer is None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()),
            critical=False,
        )
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier(ocsp_url()),
                    )
                ]
            ),
            critical=False,
        )
        if settings.CONFIG.pki_crl_url:
            point = x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(settings.CONFIG.pki_crl_url)],
                relative_name=None,
                reasons=None,
                crl_issuer=None,
            )
            builder = builder.add_extension(
                x509.CRLDistributionPoints([point]), critical=False
            )
    if timestamping:
        # RFC 3161 section 2.3: the TSA certificate carries only this
        # extended key usage, and it must be critical.
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write_certificate(path: Path, certificate: x509.Certificate) -> None:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def _keys_on_token() -> bool:
    """Return True when new seal and staff keys are made on the PKCS#11 token."""
    from protokol.signing import tokens

    return tokens.enabled()


def _new_public_key(name: str, key_path: Path, on_token: bool) -> rsa.RSAPublicKey:
    """Make the identity's key on the token or in `key_path`; return its public key."""
    if on_token:
        from protokol.signing import tokens

        return tokens.generate_key(name)
    return _key_for(key_path).public_key()


def _store(
    name: str, path: Path, certificate: x509.Certificate, on_token: bool
) -> None:
    """Write the certificate file, after its copy on the token if the key is there.

    The file comes last, so a failed run leaves no certificate without its key
    and the next run reuses the key.
    """
    if on_token:
        from protokol.signing import tokens

        tokens.store_certificate(name, certificate)
    _write_certificate(path, certificate)


@dataclass(frozen=True)
class InitResult:
    """Result of `init_pki`: the PKI directory and the file stems it created."""

    directory: Path
    created: tuple[str, ...]


def init_pki() -> InitResult:
    """Create whichever of the root, seal and TSA certificates is missing.

    Existing certificates and keys are kept, so running it again changes
    nothing. A seal or TSA certificate without its root is an error.
    """
    directory = pki_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    (directory / "users").mkdir(exist_ok=True, mode=0o700)
    created = []

    root_path = directory / "root.pem"
    if root_path.exists():
        root = _load_certificate(root_path)
        root_key = _load_key(directory / "root.key.pem")
    else:
        root_key = _key_for(directory / "root.key.pem")
        subject = _name("Root CA")
        root = _build(
            subject,
            root_key.public_key(),
            issuer=None,
            issuer_key=root_key,
            days=ROOT_DAYS,
        )
        _write_certificate(root_path, root)
        created.append("root")

    organisation = settings.CONFIG.organisation_name
    for stem, common_name, timestamping in (
        ("seal", organisation, False),
        ("tsa", "TSA", True),
    ):
        if (directory / f"{stem}.pem").exists():
            continue
        # The TSA key stays a file whatever the backend: tsa.py signs with it.
        on_token = stem == "seal" and _keys_on_token()
        public = _new_public_key(stem, directory / f"{stem}.key.pem", on_token)
        certificate = _build(
            _name(common_name),
            public,
            issuer=root,
            issuer_key=root_key,
            days=LEAF_DAYS,
            timestamping=timestamping,
        )
        _store(stem, directory / f"{stem}.pem", certificate, on_token)
        created.append(stem)

    log.info("pki_initialised", directory=str(directory), created=created)
    return InitResult(directory=directory, created=tuple(created))


def root_certificate() -> x509.Certificate:
    """Return the root CA certificate."""
    return _load_certificate(pki_dir() / "root.pem")


def timestamp_roots() -> list[x509.Certificate]:
    """Return the external TSA's CA certificates from PROTOKOL_TSA_CA_FILE, if set.

    They are trusted for timestamp tokens only, never for signers.
    """
    path = settings.CONFIG.tsa_ca_file
    if not path:
        return []
    return x509.load_pem_x509_certificates(Path(path).read_bytes())


def root_key() -> rsa.RSAPrivateKey:
    """Return the root CA's private key, decrypted at most once per KEY_CACHE_SECONDS.

    Decrypting the RSA-3072 key costs tens of milliseconds, and every CRL and
    OCSP response needs it.
    """
    path = pki_dir() / "root.key.pem"
    return cached_key_material("root", (path,), lambda: _load_key(path))


# Keys decrypted for the seal, the TSA and the root CA stay in this process's
# memory at most this long. A changed key or certificate file (new inode,
# modification time or size) or passphrase drops them at the next use.
KEY_CACHE_SECONDS = 300

_key_cache: dict[str, tuple[tuple, float, object]] = {}
_key_cache_lock = threading.Lock()


def cached_key_material(name: str, files: tuple[Path, ...], load):
    """Return `load()`, reusing its last result for `name` while nothing changed.

    The result is reused for at most KEY_CACHE_SECONDS, and only while each
    of `files` and the passphrase are the ones it was loaded with, so
    replacing a key or certificate file rotates it at the next use.

    Args:
        name: the cache slot, such as "seal", "tsa" or "root".
        files: the key and certificate files that `load` reads.
        load: returns the decrypted material; called under a lock, so
            concurrent callers decrypt a key once.
    """
    stamp = [hashlib.sha256(passphrase()).digest()]
    for path in files:
        try:
            status = path.stat()
        except FileNotFoundError:
            raise PkiNotConfigured(
                f"{path} does not exist: run `protokol pki init`."
            ) from None
        stamp.append((str(path), status.st_ino, status.st_mtime_ns, status.st_size))
    stamp = tuple(stamp)
    with _key_cache_lock:
        now = time.monotonic()
        cached = _key_cache.get(name)
        if cached is not None and cached[0] == stamp and now < cached[1]:
            return cached[2]
        _key_cache.pop(name, None)
        material = load()
        _key_cache[name] = (stamp, now + KEY_CACHE_SECONDS, material)
        log.info("pki_key_loaded", identity=name)
        return material


def forget_keys() -> None:
    """Drop every decrypted key that cached_key_material holds."""
    with _key_cache_lock:
        _key_cache.clear()


def ocsp_url() -> str:
    """Return the OCSP responder URL that issued certificates name."""
    config = settings.CONFIG
    return config.pki_ocsp_url or f"{config.public_url.rstrip('/')}/pki/ocsp"


def organisation_identity(stem: str) -> Identity:
    """Return the "seal" or "tsa" identity."""
    directory = pki_dir()
    return Identity(
        name=stem,
        certificate=_load_certificate(directory / f"{stem}.pem"),
        key_file=directory / f"{stem}.key.pem",
        chain=(root_certificate(),),
    )


def organisation_files(stem: str) -> tuple[Path, Path, Path]:
    """Return the key, certificate and root certificate files of "seal" or "tsa"."""
    directory = pki_dir()
    return (
        directory / f"{stem}.key.pem",
        directory / f"{stem}.pem",
        directory / "root.pem",
    )


def _user_paths(username: str) -> tuple[Path, Path]:
    if not USERNAME_PATTERN.fullmatch(username):
        raise ValueError(f"Username {username!r} cannot name a certificate file.")
    users = pki_dir() / "users"
    return users / f"{username}.pem", users / f"{username}.key.pem"


def issue_user_certificate(user) -> x509.Certificate:
    """Issue a new key and certificate to `user`, replacing an earlier one.

    The caller revokes the earlier certificate (see crl.revoke) first.
    """
    certificate_path, key_path = _user_paths(user.username)
    # A new certificate always gets a new key.
    key_path.unlink(missing_ok=True)

    name = f"user:{user.username}"
    on_token = _keys_on_token()
    public = _new_public_key(name, key_path, on_token)
    certificate = _build(
        _name(user.display_name, user_id=user.username),
        public,
        issuer=root_certificate(),
        issuer_key=root_key(),
        days=USER_DAYS,
    )
    _store(name, certificate_path, certificate, on_token)
    log.info(
        "pki_user_certificate_issued",
        user_id=user.pk,
        serial=format(certificate.serial_number, "x"),
    )
    return certificate


def user_certificate(username: str) -> x509.Certificate | None:
    """Return the user's certificate, or None if none was issued."""
    certificate_path, _ = _user_paths(username)
    if not certificate_path.exists():
        return None
    return _load_certificate(certificate_path)


def user_identity(username: str) -> Identity | None:
    """Return the user's identity, or None if no certificate was issued."""
    certificate = user_certificate(username)
    if certificate is None:
        return None
    _, key_path = _user_paths(username)
    return Identity(
        name=f"user:{username}",
        certificate=certificate,
        key_file=key_path,
        chain=(root_certificate(),),
    )


def serial_hex(certificate: x509.Certificate) -> str:
    """Return the certificate's serial number as lower-case hex."""
    return format(certificate.serial_number, "x")


def subject_text(certificate: x509.Certificate) -> str:
    """Return the certificate's subject as an RFC 4514 string."""
    return certificate.subject.rfc4514_string()
