"""`protokol search reindex`: rebuild the full-text index of every consultation."""

from django.core.management.base import BaseCommand
from django.db import transaction

from protokol.cli.subcommands import add_subcommands
from protokol.search.indexing import reindex_all


class Command(BaseCommand):
    help = "Rebuild the full-text search documents of all consultations."

    def add_arguments(self, parser):
        commands = add_subcommands(parser, dest="command", required=True)
        commands.add_parser("reindex", help="rebuild every search document")

    def handle(self, *args, **options):
        with transaction.atomic():
            written = reindex_all()
        self.stdout.write(f"Indexed {written} consultations.")
