"""`protokol journal verify`: recompute every leaf hash and name the first bad entry."""

import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from protokol.journal.models import JournalEntry
from protokol.journal.services import iter_entries, verify


class Command(BaseCommand):
    help = "Check the operations journal."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="subcommand", required=True)
        commands.add_parser(
            "verify",
            help="Recompute every entry's leaf hash; exit 1 at the first mismatch.",
        )

    def handle(self, *args, subcommand, **options):
        total = JournalEntry.objects.count()
        entries = tqdm(
            iter_entries(),
            total=total,
            unit="entry",
            desc="Verifying journal",
            file=sys.stderr,
            disable=options["verbosity"] == 0,
        )
        problem = verify(entries)
        entries.close()

        if problem is not None:
            raise CommandError(f"Journal entry {problem.index}: {problem.reason}.")
        self.stdout.write(f"Journal OK: {total} entries, every leaf hash matches.")
