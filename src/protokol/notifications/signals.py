"""Queue a notification task for each journal entry after its transaction commits.

Entries written with bulk_create (imports, batched access reads) send no
post_save signal and so produce no notifications.
"""

from functools import partial

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from protokol.journal.models import JournalEntry
from protokol.notifications.events import SOURCE_ACTIONS


def _enqueue(index: int) -> None:
    from protokol.notifications.tasks import dispatch_entry

    dispatch_entry.enqueue(index)


@receiver(post_save, sender=JournalEntry, dispatch_uid="notifications_journal")
def on_journal_entry(sender, instance: JournalEntry, created: bool, **kwargs) -> None:
    if created and instance.action in SOURCE_ACTIONS:
        transaction.on_commit(partial(_enqueue, instance.index))
