"""`protokol generate N`: create N consultations resampled from real appeals."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from protokol.scale.generate import generate

# A century back keeps every date after 1900, the earliest day analytics accepts.
MAX_SPAN_DAYS = 36500


def positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "Create N consultations with messages, transitions, journal entries and "
        "search documents, each copied from a real St Petersburg appeal with a "
        "new citizen, number and date."
    )

    def add_arguments(self, parser):
        parser.add_argument("count", type=positive, help="consultations to create")
        parser.add_argument("--seed", type=int, help="random seed, for repeatable runs")
        parser.add_argument(
            "--batch-size",
            type=positive,
            default=1000,
            help="consultations per transaction (default 1000)",
        )
        parser.add_argument(
            "--span-days",
            type=positive,
            default=730,
            help="dates fall within this many days before now (default 730, "
            f"at most {MAX_SPAN_DAYS})",
        )
        parser.add_argument(
            "--source",
            type=Path,
            help="appeals file to learn from; defaults to the packaged sample",
        )

    def handle(self, *args, count, seed, batch_size, span_days, source, **options):
        if span_days > MAX_SPAN_DAYS:
            raise CommandError(
                f"--span-days: {span_days} is too large; give at most "
                f"{MAX_SPAN_DAYS} days."
            )
        if source is not None and not source.is_file():
            raise CommandError(f"--source: file not found: {source}.")
        try:
            report = generate(
                count,
                seed=seed,
                batch_size=batch_size,
                span_days=span_days,
                source=source,
                progress=options["verbosity"] > 0,
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"Created in {report.seconds:.1f} s: consultations {report.consultations}, "
            f"citizens {report.citizens}, messages {report.messages}, "
            f"transitions {report.transitions}."
        )
