"""Background tasks of the django-tasks database backend, run by `protokol worker`.

The framework does not retry a task, so `deliver` enqueues itself again with
`run_after` after a failure, until the delivery is sent or dead.
"""

from django_tasks import task

from protokol.notifications import services


@task()
def dispatch_entry(index: int) -> int:
    """Turn journal entry `index` into an event and fan it out; return the count."""
    event = services.event_from_entry(index)
    if event is None:
        return 0
    return fan_out(event)


def fan_out(event) -> int:
    """Write the event's in-app notifications and queue its other deliveries."""
    pending = services.plan_deliveries(event)
    for delivery_id in pending:
        deliver.enqueue(delivery_id)
    return len(pending)


@task()
def deliver(delivery_id: int) -> str:
    """Send one delivery, or queue the next attempt after a failure."""
    retry_at = services.attempt_delivery(delivery_id)
    if retry_at is None:
        return "done"
    deliver.using(run_after=retry_at).enqueue(delivery_id)
    return "retry"
