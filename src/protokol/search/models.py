"""The full-text document of each consultation, kept current by signals."""

from django.db import models

from protokol.consultations.models import Consultation


class SearchDocument(models.Model):
    """The searchable text of one consultation, split by who may read it.

    `public_text` contains what the citizen sees (number, subject,
    description, the latest protocol version, public messages); `internal_text`
    contains the internal notes. Both are stored in the form the database's
    index reads (see search/text.py): case-folded with ё as е, and on SQLite
    also Snowball-stemmed. PostgreSQL adds tsvector columns with GIN indexes,
    filled by a trigger (migrations 0001 and 0003), and SQLite an FTS5 table
    over these columns (migration 0001).
    """

    consultation = models.OneToOneField(
        Consultation,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="search_document",
    )
    public_text = models.TextField()
    internal_text = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "search_document"
