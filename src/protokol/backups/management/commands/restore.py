"""`protokol restore PATH [--force]`: check a backup, load it, verify the result."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from protokol.backups import services
from protokol.backups.archive import BackupInvalid
from protokol.backups.database import DatabaseToolFailed
from protokol.backups.progress import byte_progress
from protokol.consultations.encryption import MasterKeyMissing


class Command(BaseCommand):
    help = (
        "Restore a backup into the configured database, which must be empty "
        "unless --force, then verify the journal and every signature. Stop "
        "the server and the worker first."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="Backup file to restore.")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Replace the contents of a database that is not empty.",
        )

    def handle(self, *args, **options):
        # The output is English; checkpoint and signature errors follow the
        # active language.
        with translation.override("en"):
            self.restore(**options)

    def restore(self, *, path, force, verbosity, **options):
        try:
            with byte_progress("Checking backup", enabled=verbosity > 0) as progress:
                report = services.restore_backup(
                    path, force=force, progress_factory=progress
                )
        except BackupInvalid as error:
            raise CommandError(
                f"Backup {path} rejected, nothing was restored: {error}"
            ) from error
        except services.RestoreRejected as error:
            raise CommandError(f"Nothing was restored: {error}") from error
        except (services.RestoreFailed, DatabaseToolFailed) as error:
            # The database load rolled back, and the data files moved back.
            raise CommandError(
                f"Restore failed, nothing was restored: {error}"
            ) from error
        except MasterKeyMissing as error:
            raise CommandError(str(error)) from error

        self.stdout.write(
            f"Restored {report.members} members ({report.files} data files)."
        )
        if report.interrupted:
            self.stderr.write(
                "Interrupted once the database and every data file were in place, "
                "so the checks did not run: run `protokol journal verify`, or the "
                "restore again with --force."
            )
            raise KeyboardInterrupt
        for line in (report.journal, report.checkpoint):
            if line:
                self.stdout.write(line)
        self.stdout.write(f"Signatures checked: {report.signatures_checked}.")
        if not report.ok:
            for problem in report.problems:
                self.stderr.write(f"FAILED: {problem}")
            raise CommandError(
                f"Restored, but {len(report.problems)} checks failed; see above."
            )
        self.stdout.write("All checks passed.")
