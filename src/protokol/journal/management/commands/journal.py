"""`protokol journal …`: verify, checkpoint, prove and witness the journal."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection, transaction
from django.utils import translation
from tqdm import tqdm

from protokol.cli.subcommands import add_subcommands
from protokol.errors import ValidationFailed
from protokol.journal import checkpoints, pgrole, tree
from protokol.journal.audit import AuditResult, audit, iter_stored_leaves
from protokol.journal.models import Checkpoint, JournalEntry
from protokol.journal.services import iter_entry_rows
from protokol.journal.tlog import tlog_proof_text
from protokol.journal.witness import WitnessFailed
from protokol.journal.witness import witness as run_witness


class Command(BaseCommand):
    help = "Check the operations journal and its signed Merkle tree."

    def add_arguments(self, parser):
        commands = add_subcommands(parser, dest="subcommand", required=True)
        commands.add_parser(
            "verify",
            help="Recompute every leaf hash and the tree root, check them against "
            "the latest signed checkpoint; exit 1 at the first mismatch.",
        )
        commands.add_parser(
            "checkpoint", help="Sign the current tree head, store and print it."
        )
        commands.add_parser(
            "public-key",
            help="Print the signed-note verifier key of this installation's "
            "checkpoints, for witnesses and auditors.",
        )

        prove = commands.add_parser(
            "prove",
            help="Write a c2sp.org/tlog-proof file: the inclusion proof of one "
            "entry with the signed checkpoint it leads to.",
        )
        prove.add_argument("index", type=int, help="Entry index, from 0.")
        prove.add_argument(
            "--size",
            type=int,
            help="Tree size of a stored checkpoint to prove against "
            "(default: the latest checkpoint).",
        )
        prove.add_argument(
            "-o", "--output", type=Path, help="Output file (default: stdout)."
        )

        role = commands.add_parser(
            "pg-role",
            help="Print the GRANT and REVOKE statements that let a PostgreSQL "
            "application role only SELECT and INSERT the journal tables.",
        )
        role.add_argument(
            "--role",
            default="protokol_app",
            help="Application role to grant to (default: protokol_app).",
        )
        role.add_argument(
            "--database",
            help="Database to grant CONNECT on (default: the configured "
            "PostgreSQL database's name).",
        )
        role.add_argument(
            "--apply",
            action="store_true",
            help="Run the statements on the configured database instead of "
            "printing them; connect as the owner of the tables.",
        )

        watch = commands.add_parser(
            "witness",
            help="Fetch a server's checkpoint, check its signature and that it "
            "extends the last accepted one; exit 1 on a fork or a rewrite.",
        )
        watch.add_argument("url", help="Server address, e.g. http://127.0.0.1:8000")
        watch.add_argument(
            "--state",
            type=Path,
            required=True,
            help="JSON file with the last accepted checkpoint; created if absent.",
        )
        watch.add_argument(
            "--key",
            help="Verifier key from `protokol journal public-key`; needed on the "
            "first run, later read from the state file.",
        )

    def handle(self, *args, subcommand, **options):
        handler = {
            "verify": self.verify,
            "checkpoint": self.checkpoint,
            "public-key": self.public_key,
            "prove": self.prove,
            "witness": self.witness,
            "pg-role": self.pg_role,
        }[subcommand]
        # The output is English; checkpoint errors follow the active language.
        with translation.override("en"):
            handler(**options)

    def verify(self, *, verbosity, **options):
        total = JournalEntry.objects.count()
        checkpoint = checkpoints.latest_checkpoint()
        verifier = None
        if checkpoint is not None:
            try:
                verifier = checkpoints.verifier_key()
            except checkpoints.SigningKeyMissing as error:
                raise CommandError(str(error)) from error

        entries = tqdm(
            iter_entry_rows(),
            total=total,
            unit="entry",
            desc="Verifying journal",
            file=sys.stderr,
            disable=verbosity == 0,
        )
        result = audit(entries, iter_stored_leaves(), checkpoint, verifier)
        entries.close()

        if not isinstance(result, AuditResult):
            where = (
                "Journal" if result.index is None else f"Journal entry {result.index}"
            )
            raise CommandError(f"{where}: {result.reason}.")
        signed = (
            f"root matches the signed checkpoint at size {result.checkpoint_size}"
            if result.checkpoint_size is not None
            else "no checkpoint issued yet"
        )
        dated = _checkpoint_time(checkpoint) if checkpoint is not None else ""
        self.stdout.write(
            f"Journal OK: {result.size} entries, every leaf hash matches, "
            f"root {result.root.hex()}, {signed}{dated}."
        )

    def checkpoint(self, **options):
        try:
            checkpoint = checkpoints.issue_checkpoint()
        except checkpoints.SigningKeyMissing as error:
            raise CommandError(str(error)) from error
        self.stdout.write(checkpoint.note, ending="")

    def public_key(self, **options):
        try:
            self.stdout.write(str(checkpoints.verifier_key()))
        except checkpoints.SigningKeyMissing as error:
            raise CommandError(str(error)) from error

    def prove(self, *, index, size, output, **options):
        if output is not None and not output.parent.is_dir():
            raise CommandError(
                f"--output: directory {output.parent} does not exist; create it "
                "or choose another file."
            )
        stored = Checkpoint.objects.order_by("-id")
        if size is not None:
            stored = stored.filter(size=size)
        checkpoint = stored.first()
        if checkpoint is None:
            at_size = "" if size is None else f" at size {size}"
            raise CommandError(
                f"No checkpoint{at_size}: issue one with `protokol journal "
                "checkpoint`, then prove against its size."
            )
        if size is None and index >= checkpoint.size:
            raise CommandError(
                f"Entry {index} is not covered by the latest checkpoint (size "
                f"{checkpoint.size}): issue one with `protokol journal checkpoint`."
            )
        try:
            proof = tree.inclusion_proof(index, checkpoint.size)
        except ValidationFailed as error:
            raise CommandError(error.message) from error

        text = tlog_proof_text(index, proof, checkpoint.note)
        if output is None:
            self.stdout.write(text, ending="")
        else:
            try:
                output.write_text(text)
            except OSError as error:
                raise CommandError(
                    f"--output: cannot write {output}: {error.strerror}; choose "
                    "another file."
                ) from error
            self.stderr.write(
                f"Wrote the proof of entry {index} at size {checkpoint.size} "
                f"to {output}."
            )

    def pg_role(self, *, role, database, apply, **options):
        if database is None:
            database = (
                connection.settings_dict["NAME"]
                if connection.vendor == "postgresql"
                else "protokol"
            )
        try:
            statements = pgrole.grant_statements(role, database)
        except ValueError as error:
            raise CommandError(str(error)) from error
        if not apply:
            self.stdout.write(pgrole.script(role, database), ending="")
            return
        if connection.vendor != "postgresql":
            raise CommandError("pg-role --apply needs a PostgreSQL database.")
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        except DatabaseError as error:
            # Typically the role is missing or the connection does not own the
            # tables. The transaction rolled back every statement before it.
            reason = str(error).strip().splitlines()[0]
            raise CommandError(
                f"pg-role --apply failed and granted nothing: {reason}. Create "
                f"the role first (CREATE ROLE {role} LOGIN) and connect as the "
                "owner of the tables."
            ) from error
        self.stderr.write(
            f"Granted {role} SELECT and INSERT on the journal tables of "
            f"{database}, and every privilege but ownership elsewhere."
        )

    def witness(self, *, url, state, key, **options):
        try:
            accepted = run_witness(url, state, key)
        except WitnessFailed as error:
            raise CommandError(f"Witness check failed: {error}.") from error
        checkpoint = accepted.checkpoint
        since = (
            "first checkpoint accepted"
            if accepted.previous_size is None
            else f"consistent with the accepted size {accepted.previous_size}"
        )
        self.stdout.write(
            f"Accepted {checkpoint.origin} at size {checkpoint.size} ({since})."
        )


def _checkpoint_time(checkpoint) -> str:
    """Check the checkpoint's timestamp token; return ", timestamped at …" or ""."""
    from protokol.signing import pki
    from protokol.signing.verify import check_timestamp_token

    if checkpoint.timestamp_token is None:
        return ", checkpoint not timestamped"
    try:
        roots = [pki.root_certificate(), *pki.timestamp_roots()]
    except pki.PkiNotConfigured:
        return ", checkpoint timestamp not checked: no installation root"
    gen_time, problem = check_timestamp_token(
        bytes(checkpoint.timestamp_token), checkpoint.note.encode(), roots
    )
    if problem:
        raise CommandError(f"Checkpoint {checkpoint.pk}: {problem}.")
    return f", timestamped at {gen_time.isoformat()}"
