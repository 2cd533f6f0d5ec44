"""`protokol analytics-refresh`: rebuild the stored facts of consultations."""

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError

from protokol.analytics.facts import refresh_range
from protokol.analytics.filters import day_start


def _day(option: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"{option}: invalid date '{value}'; write it as YYYY-MM-DD."
        ) from None


class Command(BaseCommand):
    help = (
        "Recompute the analytics facts (first reply, end, returns, disputes, "
        "previous request) of every consultation, or of those created in a "
        "date range. Run it after restoring or editing data outside the "
        "application."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--date-from",
            help="first creation day to rebuild, YYYY-MM-DD in the server's zone",
        )
        parser.add_argument(
            "--date-to",
            help="last creation day to rebuild, YYYY-MM-DD, included",
        )

    def handle(self, *args, date_from, date_to, **options):
        first = _day("--date-from", date_from)
        last = _day("--date-to", date_to)
        if first and last and first > last:
            raise CommandError(
                f"--date-to {last} is earlier than --date-from {first}; "
                "swap them or leave one out."
            )
        count = refresh_range(
            created_from=day_start(first) if first else None,
            created_before=day_start(last + timedelta(days=1)) if last else None,
            progress=options["verbosity"] > 0,
        )
        self.stdout.write(f"Refreshed the analytics facts of {count} consultations.")
