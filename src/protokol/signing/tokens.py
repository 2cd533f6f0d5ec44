"""PKCS#11 tokens: sessions, keys made on the token, certificates stored beside them.

Each signing identity has three objects on the token, all with the identity's
name as CKA_LABEL ("seal", "user:<username>") and the certificate's
subjectKeyIdentifier (SHA-1 of the public key) as CKA_ID: the private key,
its public key and the certificate. The signer finds the private key by that
label and ID, so a renewed identity never signs with its superseded key.

Settings: PROTOKOL_PKCS11_MODULE, PROTOKOL_PKCS11_TOKEN and
PROTOKOL_PKCS11_PIN or PROTOKOL_PKCS11_PIN_FILE.
"""

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pkcs11
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from pkcs11 import Attribute, CertificateType, KeyType, ObjectClass
from pkcs11.util.rsa import decode_rsa_private_key, decode_rsa_public_key
from pkcs11.util.x509 import decode_x509_certificate

from protokol.signing import pki

log = structlog.get_logger(__name__)

PIN_SETTINGS = "PROTOKOL_PKCS11_PIN or PROTOKOL_PKCS11_PIN_FILE"

# One session at a time per process: PKCS#11 login state belongs to the
# whole process, and a second C_Login while logged in fails.
_lock = threading.Lock()

_PRIVATE_KEY_TEMPLATE = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
    Attribute.SIGN: True,
    Attribute.DECRYPT: False,
    Attribute.UNWRAP: False,
}
_PUBLIC_KEY_TEMPLATE = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: False,
    Attribute.VERIFY: True,
    Attribute.ENCRYPT: False,
    Attribute.WRAP: False,
}


class TokenUnavailable(pki.PkiNotConfigured):
    """The PKCS#11 module, token, PIN or a key on the token cannot be used."""


def enabled() -> bool:
    """Return True when PROTOKOL_SIGNER_BACKEND puts signing keys on a token."""
    return settings.CONFIG.signer_backend == "pkcs11"


def token_label() -> str:
    """Return the configured token label."""
    label = settings.CONFIG.pkcs11_token
    if not label:
        raise TokenUnavailable(
            "PROTOKOL_PKCS11_TOKEN is not set: set it to the label of the token "
            "that holds the signing keys."
        )
    return label


def _module() -> str:
    module = settings.CONFIG.pkcs11_module
    if module is None:
        raise TokenUnavailable(
            "PROTOKOL_PKCS11_MODULE is not set: set it to the token's PKCS#11 "
            "library, e.g. /usr/lib/softhsm/libsofthsm2.so."
        )
    return str(module.expanduser())


def _pin() -> str:
    config = settings.CONFIG
    if config.pkcs11_pin:
        return config.pkcs11_pin
    if config.pkcs11_pin_file is None:
        raise TokenUnavailable(
            f"{PIN_SETTINGS} is not set: set one to the token's user PIN."
        )
    try:
        lines = config.pkcs11_pin_file.expanduser().read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise TokenUnavailable(
            f"PROTOKOL_PKCS11_PIN_FILE {config.pkcs11_pin_file} cannot be read: "
            f"{error}."
        ) from error
    if not lines or not lines[0]:
        raise TokenUnavailable(
            f"PROTOKOL_PKCS11_PIN_FILE {config.pkcs11_pin_file} is empty: write "
            "the token's user PIN on its first line."
        )
    return lines[0]


def _library(module: str):
    try:
        return pkcs11.lib(module)
    except pkcs11.PKCS11Error as error:
        raise TokenUnavailable(
            f"PROTOKOL_PKCS11_MODULE {module} cannot be loaded: {error}"
        ) from error


def _token(library, label: str):
    """Find the token by label.

    The module is initialised again once when no token matches, because
    SoftHSM2, for one, lists only the tokens that existed at C_Initialize.
    """
    for attempt in range(2):
        try:
            return library.get_token(token_label=label)
        except pkcs11.NoSuchToken:
            if attempt == 0:
                library.reinitialize()
        except pkcs11.MultipleTokensReturned as error:
            raise TokenUnavailable(
                f"More than one token is labelled {label!r}: give the token "
                "a unique label and set PROTOKOL_PKCS11_TOKEN to it."
            ) from error
    raise TokenUnavailable(
        f"No token labelled {label!r} in {library.so}: check "
        "PROTOKOL_PKCS11_TOKEN and that the token is present."
    )


@contextmanager
def session(*, rw: bool = False) -> Iterator[pkcs11.Session]:
    """Open a logged-in session with the configured token, closed on exit.

    Raises:
        TokenUnavailable: a setting is missing or wrong, the token is
            absent, or it rejects the PIN. The message names the setting.
    """
    module, label, pin = _module(), token_label(), _pin()
    with _lock:
        token = _token(_library(module), label)
        try:
            opened = token.open(rw=rw, user_pin=pin)
        except pkcs11.UserAlreadyLoggedIn:
            opened = token.open(rw=rw)
        except (pkcs11.PinIncorrect, pkcs11.PinInvalid, pkcs11.PinLenRange) as error:
            log.warning("pkcs11_pin_rejected", token=label)
            raise TokenUnavailable(
                f"Token {label!r} rejected the PIN: check {PIN_SETTINGS}."
            ) from error
        except pkcs11.PinLocked as error:
            raise TokenUnavailable(
                f"The user PIN of token {label!r} is locked: the token's security "
                f"officer must unlock it, then check {PIN_SETTINGS}."
            ) from error
        except pkcs11.PKCS11Error as error:
            raise TokenUnavailable(
                f"Token {label!r} cannot be opened: {type(error).__name__} {error}"
            ) from error
        try:
            yield opened
        finally:
            opened.close()


def key_id(public_key: rsa.RSAPublicKey) -> bytes:
    """Return the CKA_ID of a key: its subjectKeyIdentifier (RFC 5280, method 1)."""
    return x509.SubjectKeyIdentifier.from_public_key(public_key).digest


def _public_key(handle) -> rsa.RSAPublicKey:
    numbers = rsa.RSAPublicNumbers(
        int.from_bytes(handle[Attribute.PUBLIC_EXPONENT], "big"),
        int.from_bytes(handle[Attribute.MODULUS], "big"),
    )
    return numbers.public_key()


def _objects(opened, object_class, label: str, identifier: bytes | None = None):
    query = {Attribute.CLASS: object_class, Attribute.LABEL: label}
    if identifier is not None:
        query[Attribute.ID] = identifier
    return list(opened.get_objects(query))


def generate_key(label: str) -> rsa.RSAPublicKey:
    """Generate an RSA key pair on the token and return its public key.

    The private key is sensitive and never extractable. A key pair with this
    label but no certificate, left by an interrupted run, is reused.
    """
    with session(rw=True) as opened:
        for public in _objects(opened, ObjectClass.PUBLIC_KEY, label):
            identifier = public[Attribute.ID]
            has_private = _objects(opened, ObjectClass.PRIVATE_KEY, label, identifier)
            if has_private and not _objects(
                opened, ObjectClass.CERTIFICATE, label, identifier
            ):
                log.info("pkcs11_key_reused", label=label, key_id=identifier.hex())
                return _public_key(public)

        # The ID is known only once the public key exists, so the pair gets
        # a random one first and its subjectKeyIdentifier after.
        public, private = opened.generate_keypair(
            KeyType.RSA,
            pki.KEY_SIZE,
            id=secrets.token_bytes(20),
            label=label,
            store=True,
            public_template=_PUBLIC_KEY_TEMPLATE,
            private_template=_PRIVATE_KEY_TEMPLATE,
        )
        public_key = _public_key(public)
        identifier = key_id(public_key)
        public[Attribute.ID] = identifier
        private[Attribute.ID] = identifier
    log.info("pkcs11_key_generated", label=label, key_id=identifier.hex())
    return public_key


def store_certificate(label: str, certificate: x509.Certificate) -> None:
    """Write the certificate to the token beside its key, replacing a copy."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    identifier = key_id(certificate.public_key())
    with session(rw=True) as opened:
        for stale in _objects(opened, ObjectClass.CERTIFICATE, label, identifier):
            stale.destroy()
        opened.create_object(
            {
                **decode_x509_certificate(der),
                Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                Attribute.TOKEN: True,
                Attribute.PRIVATE: False,
                Attribute.LABEL: label,
                Attribute.ID: identifier,
            }
        )


def has_private_key(opened, label: str, identifier: bytes) -> bool:
    """Return True if the session finds the private key with this label and ID."""
    return bool(_objects(opened, ObjectClass.PRIVATE_KEY, label, identifier))


def has_key(identity: pki.Identity) -> bool:
    """Return True if the token contains the key of the identity's certificate."""
    identifier = key_id(identity.certificate.public_key())
    with session() as opened:
        return has_private_key(opened, identity.name, identifier)


def import_identity(identity: pki.Identity) -> None:
    """Copy a software identity's key and certificate onto the token.

    The token marks the private key sensitive and not extractable, but also
    records that it was not generated there (CKA_LOCAL false).
    """
    key = identity.load_key()
    identifier = key_id(key.public_key())
    if identifier != key_id(identity.certificate.public_key()):
        raise TokenUnavailable(
            f"The key file {identity.key_file} does not match the certificate "
            f"of {identity.name}."
        )
    private_der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.PKCS1
    )
    names = {Attribute.LABEL: identity.name, Attribute.ID: identifier}
    with session(rw=True) as opened:
        opened.create_object(
            {**decode_rsa_public_key(public_der), **_PUBLIC_KEY_TEMPLATE, **names}
        )
        opened.create_object(
            {**decode_rsa_private_key(private_der), **_PRIVATE_KEY_TEMPLATE, **names}
        )
    store_certificate(identity.name, identity.certificate)
    log.info("pkcs11_key_imported", label=identity.name, key_id=identifier.hex())
