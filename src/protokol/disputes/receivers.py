"""Dispute rows kept in step with the lifecycle's dispute, conclude and reopen.

`journal.signals.entry_recorded` is sent inside the writer's transaction, so
the dispute row and its journal entry commit or roll back with the
transition.
"""

from django.dispatch import receiver

from protokol.journal.models import JournalAction, JournalEntry
from protokol.journal.signals import entry_recorded

CLOSING_ACTIONS = frozenset({"conclude", "reopen"})


@receiver(entry_recorded, sender=JournalEntry, dispatch_uid="disputes_lifecycle")
def on_journal_entry(sender, entry: JournalEntry, **kwargs) -> None:
    if entry.action != JournalAction.CONSULTATION_TRANSITION:
        return
    from protokol.disputes import services

    action = (entry.after or {}).get("action")
    if action == "dispute" and entry.actor_id is not None:
        services.record_opened(entry)
    elif action in CLOSING_ACTIONS:
        services.record_closed(entry)
