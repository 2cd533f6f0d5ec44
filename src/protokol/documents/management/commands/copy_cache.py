"""`protokol copy_cache prune [--dry-run] [--max-age-seconds N] [--max-bytes N]`."""

from django.core.management.base import BaseCommand, CommandError

from protokol.cli.subcommands import add_subcommands
from protokol.documents import cache as copy_cache


class Command(BaseCommand):
    help = "Manage the cache of sealed PDF copies under PROTOKOL_DATA_DIR/copies."

    def add_arguments(self, parser):
        commands = add_subcommands(parser, dest="subcommand", required=True)
        prune = commands.add_parser(
            "prune",
            help="Delete cached copies not read for "
            "PROTOKOL_COPY_CACHE_MAX_AGE_SECONDS, then the least recently read "
            "ones above PROTOKOL_COPY_CACHE_MAX_BYTES.",
        )
        prune.add_argument(
            "--max-age-seconds",
            type=int,
            help="Delete entries not read for this many seconds instead; 0 "
            "turns the age limit off.",
        )
        prune.add_argument(
            "--max-bytes",
            type=int,
            help="Keep at most this many bytes of entries instead; 0 turns the "
            "size limit off.",
        )
        prune.add_argument(
            "--dry-run",
            action="store_true",
            help="Print what would be deleted and delete nothing.",
        )

    def handle(self, *args, subcommand, **options):
        for option in ("max_age_seconds", "max_bytes"):
            value = options[option]
            if value is not None and value < 0:
                flag = "--" + option.replace("_", "-")
                raise CommandError(f"{flag} must be 0 (no limit) or more, not {value}.")

        result = copy_cache.prune(
            max_age_seconds=options["max_age_seconds"],
            max_bytes=options["max_bytes"],
            dry_run=options["dry_run"],
        )
        verb = "would delete" if options["dry_run"] else "deleted"
        self.stdout.write(
            f"{verb} {result.removed} cached copies ({result.removed_bytes} bytes), "
            f"kept {result.kept} ({result.kept_bytes} bytes)"
        )
