"""`protokol keys rotate`: re-wrap data keys under a new master key.

It covers the attachments' data keys, the personal-data records' data keys and
the personal-data index key.
"""

import functools
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from protokol.accounts.models import CitizenIdentifiers
from protokol.cli.subcommands import add_subcommands
from protokol.consultations import encryption
from protokol.consultations.attachments import rewrap_batch
from protokol.consultations.models import Attachment, CollectedData, IndexKey
from protokol.personal import records


class Command(BaseCommand):
    help = (
        "Manage the master key that wraps the data keys of attachments and "
        "personal data."
    )

    def add_arguments(self, parser):
        commands = add_subcommands(parser, dest="subcommand", required=True)
        rotate = commands.add_parser(
            "rotate",
            help="Re-wrap every data key of attachments and personal data, and "
            "the personal-data index key, under a new master key without "
            "rewriting stored files or records; safe to re-run. Afterwards set "
            "PROTOKOL_MASTER_KEY_FILE to the new key file and restart.",
        )
        rotate.add_argument(
            "new_key_file", type=Path, help="File of 32 random bytes: the new key."
        )
        rotate.add_argument(
            "--old-key-file",
            type=Path,
            action="append",
            default=[],
            help="A previous master key whose data keys are re-wrapped too; "
            "repeatable. The key in PROTOKOL_MASTER_KEY_FILE is always used.",
        )
        rotate.add_argument(
            "--batch-size",
            type=int,
            default=500,
            help="Rows re-wrapped per transaction (default: 500).",
        )

    def handle(self, *args, subcommand, **options):
        if subcommand == "rotate":
            self.rotate(**options)

    def rotate(self, new_key_file: Path, old_key_file, batch_size: int, **options):
        if batch_size < 1:
            raise CommandError(f"--batch-size must be at least 1, not {batch_size}.")
        try:
            new_key = encryption.read_key_file(new_key_file.expanduser())
            old_keys = [encryption.load_master_key()]
            old_keys += [encryption.read_key_file(p.expanduser()) for p in old_key_file]
        except encryption.MasterKeyMissing as error:
            raise CommandError(str(error)) from error
        if new_key_file.stat().st_mode & 0o077:
            self.stderr.write(
                f"Warning: {new_key_file} is readable by other users; "
                f"run `chmod 600 {new_key_file}`."
            )

        keys_by_id = {key.key_id: key for key in old_keys}
        rewrapped, unknown_key, failed = 0, [], []
        for label, pending, rewrap in _targets(keys_by_id, new_key):
            total, missed, broken = self.rewrap_all(pending, rewrap, batch_size)
            rewrapped += total
            unknown_key += [f"{label} {_ids(missed)}"] if missed else []
            failed += [f"{label} {_ids(broken)}"] if broken else []

        self.stdout.write(
            f"Re-wrapped {rewrapped} data keys under master key {new_key.key_id}."
        )
        if unknown_key:
            self.stderr.write(
                "Data keys wrapped under a master key not given, left as they "
                f"are (pass it with --old-key-file): {'; '.join(unknown_key)}."
            )
        if failed:
            self.stderr.write(
                "Wrapped data keys that failed authentication, left as they are: "
                f"{'; '.join(failed)}."
            )
        if unknown_key or failed:
            raise CommandError("Rotation is incomplete; fix the above and re-run.")
        self.stdout.write(
            f"Now set PROTOKOL_MASTER_KEY_FILE={new_key_file} and restart Protokol."
        )

    def rewrap_all(self, pending: int, rewrap, batch_size: int):
        """Run `rewrap` batch after batch; return the count and the ids left over."""
        rewrapped, unknown_key, failed = 0, [], []
        after_id = 0
        with tqdm(total=pending, unit="key", disable=None) as progress:
            while True:
                batch = rewrap(after_id, batch_size)
                if batch.last_id is None:
                    break
                after_id = batch.last_id
                rewrapped += batch.rewrapped
                unknown_key += batch.unknown_key
                failed += batch.failed
                progress.update(
                    batch.rewrapped + len(batch.unknown_key) + len(batch.failed)
                )
        return rewrapped, unknown_key, failed


def _targets(keys_by_id, new_key):
    """Return, for each kind of row with a wrapped key, its label, the number of
    rows still to re-wrap and a function that re-wraps one batch after an id.
    """
    attachments = Attachment.objects.filter(wrapped_key__isnull=False).exclude(
        encryption_key_id=new_key.key_id
    )
    targets = [
        (
            "attachments",
            attachments.count(),
            lambda after_id, limit: rewrap_batch(after_id, limit, keys_by_id, new_key),
        )
    ]
    for label, model in [
        ("personal-data index key", IndexKey),
        ("citizen identifiers", CitizenIdentifiers),
        ("collected data", CollectedData),
    ]:
        targets.append(
            (
                label,
                records.rewrap_needed(model, new_key),
                functools.partial(
                    records.rewrap_batch, model, old_keys=keys_by_id, new_key=new_key
                ),
            )
        )
    return targets


def _ids(ids: list[int]) -> str:
    listed = ", ".join(str(i) for i in ids[:20])
    return listed + (f" and {len(ids) - 20} more" if len(ids) > 20 else "")
