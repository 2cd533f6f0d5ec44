"""`protokol backup PATH`: write an encrypted, verifiable backup of the installation."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from protokol.backups import services, tasks
from protokol.backups.archive import BackupInvalid
from protokol.backups.database import DatabaseToolFailed
from protokol.backups.progress import byte_progress
from protokol.consultations.encryption import MasterKeyMissing


class Command(BaseCommand):
    help = (
        "Write a consistent snapshot of the database, the attachment and copy "
        "files and the latest signed checkpoint to PATH, encrypted with "
        "AES-256-GCM under PROTOKOL_BACKUP_PASSPHRASE or the master key."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", type=Path, help="Backup file to write.")
        parser.add_argument(
            "--schedule",
            action="store_true",
            help="Queue the worker's scheduled backup into PROTOKOL_BACKUP_DIR "
            "instead; does nothing when one is queued already.",
        )

    def handle(self, *args, path, schedule, verbosity, **options):
        if schedule:
            self._schedule()
            return
        if path is None:
            raise CommandError("Name the backup file: protokol backup PATH.")
        if path.exists():
            raise CommandError(f"{path} exists: choose a new file name.")
        # A missing directory is not created: it is often a backup volume
        # that is not mounted, and the backup would fill the wrong disk.
        if not path.parent.exists():
            raise CommandError(
                f"Directory {path.parent} does not exist: create it, or choose "
                "another PATH."
            )
        if not path.parent.is_dir():
            raise CommandError(
                f"{path.parent} is not a directory: choose another PATH."
            )

        try:
            with byte_progress("Backing up", enabled=verbosity > 0) as progress:
                result = services.create_backup(path, progress)
        except (BackupInvalid, DatabaseToolFailed, MasterKeyMissing) as error:
            raise CommandError(str(error)) from error
        except OSError as error:
            # For example a full disk or an unreadable data file. The partial
            # backup was in the staging directory, which is deleted by now.
            raise CommandError(
                "Backup failed, no backup file was written: "
                f"{services.describe_os_error(error)}."
            ) from error
        covered = (
            f"journal checkpoint at size {result.checkpoint_size}"
            if result.checkpoint_size is not None
            else "no journal checkpoint issued yet"
        )
        self.stdout.write(
            f"Wrote {result.path}: {result.members} members, {result.bytes} bytes "
            f"before encryption, {covered}."
        )
        if result.attachments_bucket:
            self.stderr.write(
                f"The attachments in S3 bucket {result.attachments_bucket} are not "
                "in this backup: back up the bucket separately."
            )

    def _schedule(self):
        try:
            queued = tasks.schedule_backups()
        except tasks.BackupsNotConfigured as error:
            raise CommandError(str(error)) from error
        if queued:
            self.stdout.write("Queued the scheduled backup for the worker.")
        else:
            self.stdout.write("A scheduled backup is queued already.")
