"""`protokol import-appeals [FILE]`: import St Petersburg portal appeals."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from protokol.imports.services import default_file, import_appeals


class Command(BaseCommand):
    help = (
        "Import appeals of the St Petersburg portal «Наш Санкт-Петербург» from a "
        "JSON Lines file, plain or gzip. Appeals imported before are skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "file",
            nargs="?",
            type=Path,
            help="a .jsonl or .jsonl.gz file; defaults to the packaged sample "
            "of 2,000 appeals",
        )

    def handle(self, *args, file: Path | None, **options):
        path = file or default_file()
        if not path.is_file():
            raise CommandError(f"File not found: {path}.")
        try:
            report = import_appeals(path, progress=options["verbosity"] > 0)
        except (OSError, EOFError) as error:
            raise CommandError(f"Cannot read {path}: {error}.") from error

        for problem in report.problems:
            self.stderr.write(f"Line {problem.line} skipped: {problem.reason}.")
        self.stdout.write(
            f"Appeals read: {report.read}\n"
            f"Imported: {report.imported}\n"
            f"Already present: {report.already_present}\n"
            f"Skipped: {report.skipped}\n"
            f"Departments created: {report.departments_created}\n"
            f"Services created: {report.services_created}\n"
            f"Citizen accounts created: {report.users_created}\n"
            f"Messages created: {report.messages_created}\n"
            f"Transitions created: {report.transitions_created}"
        )
