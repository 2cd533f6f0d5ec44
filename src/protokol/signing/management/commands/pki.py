"""`protokol pki …`: create the PKI, issue and revoke certificates, issue the CRL."""

from cryptography.hazmat.primitives import serialization
from django.core.management.base import BaseCommand, CommandError

from protokol.accounts.models import Role, User
from protokol.cli.subcommands import add_subcommands
from protokol.signing import crl, pki, tokens

SIGNING_ROLES = (Role.OPERATOR, Role.REVIEWER, Role.SUPERVISOR)


class Command(BaseCommand):
    help = "Manage the signing PKI: root CA, organisation seal, TSA and operators."

    def add_arguments(self, parser):
        commands = add_subcommands(parser, dest="subcommand", required=True)
        commands.add_parser(
            "init",
            help="Create the root CA, seal and TSA certificates that are missing; "
            "existing ones are kept.",
        )

        issue = commands.add_parser(
            "issue", help="Issue a signing certificate to a staff member."
        )
        issue.add_argument("username")
        issue.add_argument(
            "--renew",
            action="store_true",
            help="Revoke the user's current certificate (reason superseded) "
            "and issue a new one.",
        )

        revoke = commands.add_parser(
            "revoke", help="Revoke a user's certificate and issue a new CRL."
        )
        revoke.add_argument("username")
        revoke.add_argument(
            "--reason",
            default="unspecified",
            choices=sorted(crl.REASONS),
            help="RFC 5280 revocation reason (default: unspecified).",
        )

        commands.add_parser("crl", help="Issue a new CRL and print it as PEM.")

        token_import = commands.add_parser(
            "pkcs11-import",
            help="Copy an identity's key file and certificate onto the PKCS#11 "
            "token (PROTOKOL_PKCS11_*); the key file is left for you to delete.",
        )
        token_import.add_argument(
            "identity", help='"seal" or "user:USERNAME", as the token labels it.'
        )

    def handle(self, *args, subcommand, **options):
        try:
            getattr(self, "_" + subcommand.replace("-", "_"))(**options)
        except (pki.PkiNotConfigured, crl.AlreadyRevoked, ValueError) as error:
            raise CommandError(str(error)) from error

    def _init(self, **options):
        result = pki.init_pki()
        created = ", ".join(result.created) or "nothing, all certificates exist"
        self.stdout.write(f"PKI in {result.directory}: created {created}.")

    def _issue(self, *, username, renew, **options):
        user = _staff_user(username)
        current = pki.user_certificate(username)
        if current is not None and not crl.is_revoked(current):
            if not renew:
                self.stdout.write(
                    f"{username} already has certificate {pki.serial_hex(current)}; "
                    "pass --renew to replace it."
                )
                return
            crl.revoke(current, "superseded")

        certificate = pki.issue_user_certificate(user)
        self.stdout.write(
            f"Issued certificate {pki.serial_hex(certificate)} to {username}, "
            f"valid until {certificate.not_valid_after_utc:%Y-%m-%d}."
        )

    def _revoke(self, *, username, reason, **options):
        current = pki.user_certificate(username)
        if current is None:
            raise CommandError(f"{username} has no certificate to revoke.")
        crl.revoke(current, reason)
        self.stdout.write(f"Revoked certificate {pki.serial_hex(current)}.")

    def _pkcs11_import(self, *, identity, **options):
        found = _software_identity(identity)
        if tokens.has_key(found):
            self.stdout.write(
                f"Token {tokens.token_label()!r} already has the key of "
                f"{identity}; nothing imported."
            )
            return
        tokens.import_identity(found)
        self.stdout.write(
            f"Imported the key and certificate of {identity} into token "
            f"{tokens.token_label()!r}. With PROTOKOL_SIGNER_BACKEND=pkcs11 it "
            f"signs from the token; once it does, delete {found.key_file}."
        )

    def _crl(self, **options):
        issued = crl.issue_crl()
        self.stdout.write(issued.public_bytes(serialization.Encoding.PEM).decode())


def _software_identity(name: str) -> pki.Identity:
    """Return the seal or user identity `name` whose key is still a file."""
    if name == "seal":
        identity = pki.organisation_identity("seal")
    elif name.startswith("user:"):
        identity = pki.user_identity(name.removeprefix("user:"))
    else:
        raise CommandError(
            f'Identity {name!r} is neither "seal" nor "user:USERNAME"; the TSA '
            "key stays a file."
        )
    if identity is None:
        raise CommandError(f"{name} has no certificate: issue one first.")
    if not identity.key_file.exists():
        raise CommandError(
            f"{name} has no key file {identity.key_file}: its key is on a token "
            "already, or was never a file."
        )
    return identity


def _staff_user(username: str) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"User {username!r} not found.")
    if user.role not in SIGNING_ROLES:
        raise CommandError(
            f"User {username!r} has role {user.role!r}; signing certificates "
            f"are issued to {', '.join(SIGNING_ROLES)} only."
        )
    return user
