"""`protokol security report`: actors denied repeatedly, from the journal."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from protokol.cli.subcommands import add_subcommands
from protokol.errors import ValidationFailed
from protokol.journal.canonical import format_time
from protokol.security.report import denial_report, parse_since

# Objects listed per actor in the table; --json lists all of them.
TABLE_OBJECTS = 5


class Command(BaseCommand):
    help = "Report on denied access attempts recorded in the journal."

    def add_arguments(self, parser):
        commands = add_subcommands(parser, dest="subcommand", required=True)
        report = commands.add_parser(
            "report",
            help="List the actors (users, or client addresses without a user) "
            "with repeated denials: counts per kind and the objects tried.",
        )
        report.add_argument(
            "--since",
            default="24h",
            help="Start of the window: 30m, 24h, 7d or an ISO 8601 date or time "
            "in UTC (default: 24h).",
        )
        report.add_argument(
            "--min-denials",
            type=int,
            default=2,
            help="List actors with at least this many denials (default: 2).",
        )
        report.add_argument(
            "--json", action="store_true", help="Print the report as JSON."
        )

    def handle(self, *args, subcommand, since, min_denials, json, **options):
        try:
            # The rest of the output is English, so the validation messages,
            # which are translated for the API, are too.
            with translation.override("en"):
                start = parse_since(since)
                actors = denial_report(start, min_denials=min_denials)
        except ValidationFailed as error:
            # The message names the option already.
            raise CommandError(error.message) from error

        if json:
            report = {
                "since": format_time(start),
                "min_denials": min_denials,
                "actors": [actor.as_dict() for actor in actors],
            }
            self.stdout.write(_dumps(report))
            return
        self.stdout.write(
            f"Denials since {format_time(start)}, actors with {min_denials} or more: "
            f"{len(actors)}"
        )
        if not actors:
            return
        rows = [("actor", "role", "denials", "alerts", "kinds", "objects tried")]
        for actor in actors:
            objects = actor.objects[:TABLE_OBJECTS]
            more = len(actor.objects) - len(objects)
            rows.append(
                (
                    _actor_label(actor),
                    actor.role,
                    str(actor.denials),
                    str(actor.alerts),
                    ", ".join(f"{k} {n}" for k, n in sorted(actor.kinds.items())),
                    ", ".join(objects) + (f" (+{more})" if more else ""),
                )
            )
        widths = [max(len(row[column]) for row in rows) for column in range(5)]
        for row in rows:
            cells = [row[column].ljust(widths[column]) for column in range(5)]
            self.stdout.write("  ".join([*cells, row[5]]).rstrip())


def _actor_label(actor) -> str:
    if actor.subject == "user":
        label = f"{actor.name} (user {actor.subject_id})"
    else:
        label = f"{actor.subject_id or 'anonymous'} (no user)"
    if actor.addresses:
        label += " from " + ", ".join(actor.addresses[:3])
    return label


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)
