"""Queue a notification task for each journal entry after its transaction commits.

Entries written in batches with `journal.services.record_many` (imports)
send no `entry_recorded` signal and so produce no notifications.
"""

from functools import partial

from django.db import transaction
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
        transaction.on_commit(partial(_enqueue, entry.index))
