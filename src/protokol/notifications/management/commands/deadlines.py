"""`protokol deadlines check`: send deadline warnings and breach escalations."""

import sys
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from protokol.cli.subcommands import add_subcommands
from protokol.notifications.deadlines import check_deadlines
from protokol.notifications.tasks import fan_out

MAX_EVERY_SECONDS = 86400


class Command(BaseCommand):
    help = "Notify about regulation deadlines at 80 % or past due."

    def add_arguments(self, parser):
        commands = add_subcommands(parser, dest="subcommand", required=True)
        check = commands.add_parser(
            "check",
            help="Find open consultations with a deadline at >= 80 %% or breached "
            "and notify each consultation, target and kind once.",
        )
        check.add_argument(
            "--every",
            type=int,
            default=0,
            metavar="SECONDS",
            help="Repeat the check every SECONDS seconds until stopped; "
            "0 (default) checks once.",
        )

    def handle(self, *args, subcommand, every, **options):
        if every < 0:
            raise CommandError("--every must be 0 or a positive number of seconds.")
        # Warnings come at 80 % of targets as short as hours, so a longer
        # interval would miss them; time.sleep also rejects huge values.
        if every > MAX_EVERY_SECONDS:
            raise CommandError(
                f"--every must be at most {MAX_EVERY_SECONDS} seconds (one day); "
                f"got {every}."
            )

        def progress(items, total):
            # A repeated check runs as a service, whose log needs no bars.
            return tqdm(
                items,
                total=total,
                desc="Checking deadlines",
                unit="consultation",
                file=sys.stderr,
                disable=options["verbosity"] == 0 or bool(every),
            )

        while True:
            events = check_deadlines(progress=progress)
            for event in events:
                fan_out(event)
            self.stdout.write(f"{len(events)} new deadline events")
            if not every:
                return
            time.sleep(every)
