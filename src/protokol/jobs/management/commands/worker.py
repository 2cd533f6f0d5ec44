"""`protokol worker`: requeue the tasks of dead workers, then run `db_worker`."""

from django_tasks_db.management.commands import db_worker

from protokol.jobs import stale


class Command(db_worker.Command):
    help = (
        "Requeue the tasks that dead workers left running, then run the database "
        "task worker (the options of db_worker apply)."
    )

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        # The host and process id in the id let the next worker on this host
        # see that this one is gone.
        parser.set_defaults(worker_id=stale.worker_id())

    def handle(self, *args, **options) -> None:
        requeued = stale.requeue_stale_tasks()
        if options["verbosity"] > 0:
            self.stdout.write(f"Requeued {len(requeued)} task(s) of dead workers.")
        super().handle(*args, **options)
