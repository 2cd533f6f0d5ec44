"""Queue a notification task for each journal entry, in the entry's transaction.

The database task backend stores the task as a row, so it commits, or rolls
back, with the entry, and the write pays for one commit instead of two.

Entries written in batches with `journal.services.record_many` (imports)
send no `entry_recorded` signal and so produce no notifications.
"""

from django.dispatch import receiver

from protokol.journal.models import JournalEntry
from protokol.journal.signals import entry_recorded
from protokol.notifications.events import SOURCE_ACTIONS


def _enqueue(index: int) -> None:
    from protokol.notifications.tasks import dispatch_entry

    dispatch_entry.enqueue(index)


@receiver(entry_recorded, sender=JournalEntry, dispatch_uid="notifications_journal")
def on_journal_entry(sender, entry: JournalEntry, **kwargs) -> None:
    if entry.action in SOURCE_ACTIONS:
        _enqueue(entry.index)
