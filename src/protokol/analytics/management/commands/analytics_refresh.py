"""`protokol analytics-refresh`: rebuild the stored facts and daily aggregates."""

from datetime import date, timedelta

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from protokol.analytics import tasks
from protokol.analytics.aggregates import mark_range_stale, refresh_stale
from protokol.analytics.facts import refresh_range
from protokol.analytics.filters import EARLIEST_DATE, LATEST_DATE, day_start


def _day(option: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"{option}: invalid date '{value}'; write it as YYYY-MM-DD."
        ) from None
    # Days near date.min and date.max overflow when turned into aware times.
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise CommandError(
            f"{option}: {value} is out of range; give a day from {EARLIEST_DATE} "
            f"to {LATEST_DATE}."
        )
    return day


class Command(BaseCommand):
    help = (
        "Recompute the analytics facts (first reply, end, returns, disputes, "
        "previous request) of every consultation, or of those created in a "
        "date range, and then the daily aggregates of those days. Run it "
        "after restoring or editing data outside the application. With "
        "--stale, recompute only the days that writes marked stale, as the "
        "worker's task does."
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
        parser.add_argument(
            "--stale",
            action="store_true",
            help="recompute the aggregates of the stale days only",
        )
        parser.add_argument(
            "--schedule",
            action="store_true",
            help=(
                "queue the recurring refresh of stale days for `protokol worker` "
                "and exit"
            ),
        )

    def handle(self, *args, date_from, date_to, stale, schedule, **options):
        first = _day("--date-from", date_from)
        last = _day("--date-to", date_to)
        if first and last and first > last:
            raise CommandError(
                f"--date-to {last} is earlier than --date-from {first}; "
                "swap them or leave one out."
            )
        if (stale or schedule) and (first or last):
            raise CommandError(
                "--stale and --schedule take no dates: they handle the days "
                "that writes marked stale."
            )
        if stale and schedule:
            raise CommandError("Give --stale or --schedule, not both.")
        progress = options["verbosity"] > 0
        if schedule:
            queued = tasks.start_schedule()
            self.stdout.write(
                "Queued the refresh of stale days for the worker."
                if queued
                else "A refresh of stale days is already queued."
            )
            return
        if not stale:
            count = refresh_range(
                created_from=day_start(first) if first else None,
                created_before=day_start(last + timedelta(days=1)) if last else None,
                progress=progress,
            )
            self.stdout.write(
                f"Refreshed the analytics facts of {count} consultations."
            )
            mark_range_stale(first, last)
        days = refresh_stale(progress=progress)
        self.stdout.write(f"Refreshed the daily aggregates of {days} days.")
        if not stale:
            _analyze()


def _analyze() -> None:
    """Update the planner statistics of the tables a full refresh rewrote.

    The refresh can replace most rows at once. Until autovacuum next
    analyzes the tables, the planner estimates from their old, often empty,
    contents and may pick scans for the statistics queries.
    """
    with connection.cursor() as cursor:
        for model in apps.get_app_config("analytics").get_models():
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
