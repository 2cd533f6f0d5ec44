"""Signals of the journal.

`entry_recorded` is sent by `journal.services.record` for each single entry,
inside the writer's transaction, with `entry` the stored JournalEntry.
Batches written with `record_many` (imports) send nothing, because their
entries are bulk-inserted without model signals.
"""

from django.dispatch import Signal

entry_recorded = Signal()
