"""Queue a notification task for each journal entry inside the entry's transaction.

The task row commits or rolls back with the entry, so a process killed right
after the commit loses no notification.

Entries written in batches with `journal.services.record_many` (imports)
send no `entry_recorded` signal and so produce no notifications.
"""

from django.dispatch import receiver

from protokol.journal.models import JournalEntry
from protokol.journal.signals import entry_recorded
from protokol.notifications.events import SOURCE_ACTIONS


@receiver(entry_recorded, sender=JournalEntry, dispatch_uid="notifications_journal")
def on_journal_entry(sender, entry: JournalEntry, **kwargs) -> None:
    if entry.action in SOURCE_ACTIONS:
        from protokol.notifications.tasks import dispatch_entry

        dispatch_entry.enqueue(entry.index)
