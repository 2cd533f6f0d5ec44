"""`protokol notifications …`: list and replay dead-lettered deliveries."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from protokol.cli.subcommands import add_subcommands
from protokol.errors import NotFound
from protokol.notifications import services


class Command(BaseCommand):
    help = "Inspect and replay notification deliveries that failed for good."

    def add_arguments(self, parser):
        commands = add_subcommands(parser, dest="subcommand", required=True)
        commands.add_parser(
            "dead-letters", help="List the dead deliveries: id, channel, target, error."
        )
        replay = commands.add_parser(
            "replay", help="Queue dead deliveries again with a fresh attempt count."
        )
        target = replay.add_mutually_exclusive_group(required=True)
        target.add_argument("ids", nargs="*", type=int, default=[], metavar="ID")
        target.add_argument("--all", action="store_true", help="Replay every one.")

    def handle(self, *args, subcommand, **options):
        if subcommand == "dead-letters":
            for delivery in services.dead_letters():
                where = delivery.webhook.url if delivery.webhook else delivery.channel
                self.stdout.write(
                    f"{delivery.pk}\t{delivery.channel}\t{where}\t"
                    f"{delivery.event.kind}\t{delivery.attempts}\t{delivery.last_error}"
                )
            return

        ids = None if options["all"] else options["ids"]
        if ids == []:
            raise CommandError("Name the delivery ids to replay, or pass --all.")
        try:
            # The messages of services are translated for the API; the rest
            # of this command's output is English.
            with translation.override("en"):
                replayed = services.replay(None, ids)
        except NotFound as error:
            raise CommandError(error.message) from error
        self.stdout.write(f"{len(replayed)} deliveries queued again")
