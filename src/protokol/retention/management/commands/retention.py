"""`protokol retention run [--dry-run]` and `protokol retention schedule`."""

import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from protokol.cli.subcommands import add_subcommands
from protokol.retention import disposal, tasks


class Command(BaseCommand):
    help = "Apply the retention policies to closed consultations."

    def add_arguments(self, parser):
        commands = add_subcommands(parser, dest="subcommand", required=True)
        run = commands.add_parser(
            "run",
            help="Delete or archive every closed consultation whose retention "
            "period has ended, journaling each.",
        )
        run.add_argument(
            "--dry-run",
            action="store_true",
            help="List what would be deleted or archived and change nothing.",
        )
        commands.add_parser(
            "schedule",
            help="Queue the retention task for `protokol worker`; it then "
            "repeats every PROTOKOL_RETENTION_EVERY_SECONDS seconds.",
        )

    def handle(self, *args, subcommand, **options):
        if subcommand == "schedule":
            queued = tasks.start_schedule()
            self.stdout.write(
                "retention task queued" if queued else "retention task already queued"
            )
            return

        dry_run = options["dry_run"]

        def progress(items):
            return tqdm(
                items,
                desc="Applying retention",
                unit="record",
                file=sys.stderr,
                disable=options["verbosity"] == 0,
            )

        result = disposal.run(dry_run=dry_run, progress=progress)
        if dry_run:
            for item in result.due:
                self.stdout.write(
                    f"{item.consultation.number}\t{item.rule.end_action}\t"
                    f"closed {item.closed_at.date().isoformat()}\t"
                    f"due {item.due_at.date().isoformat()}"
                )
            self.stdout.write(f"{len(result.due)} due, nothing changed (dry run)")
            return
        self.stdout.write(
            f"{len(result.disposals)} disposed, {len(result.failed)} failed, "
            f"{len(result.due)} due"
        )
        if result.failed:
            failed = ", ".join(str(pk) for pk in result.failed)
            raise CommandError(
                f"Disposal failed for consultations {failed}; see the log "
                "event retention_dispose_failed and run again."
            )
