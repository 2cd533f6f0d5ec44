from protokol.journal.models import JournalEntry
from protokol.journal.services import iter_entries, verify


def test_create_writes_verifiable_entry(consultation):
    entry = JournalEntry.objects.filter(consultation_id=consultation.pk).get()

    assert entry.action == "consultation:create"
    assert entry.actor_name == "Анна Иванова"
    assert verify(iter_entries()) is None
