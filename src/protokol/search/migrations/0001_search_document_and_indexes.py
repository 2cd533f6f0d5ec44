"""Search documents with a PostgreSQL tsvector/GIN or an SQLite FTS5 index.

On PostgreSQL also an index of consultations by creation time for the
lists of organisation-wide staff, which later migrations move to the model.
"""

import django.db.models.deletion
from django.db import migrations, models

SQLITE_UP = [
    # External content: FTS5 reads the text from search_document and stores
    # only its index; the triggers keep the two in step.
    """
    CREATE VIRTUAL TABLE search_fts USING fts5(
        public_text, internal_text,
        content='search_document', content_rowid='consultation_id',
        tokenize='unicode61 remove_diacritics 0'
    );
    """,
    """
    CREATE TRIGGER search_document_fts_insert AFTER INSERT ON search_document
    BEGIN
        INSERT INTO search_fts(rowid, public_text, internal_text)
        VALUES (new.consultation_id, new.public_text, new.internal_text);
    END;
    """,
    """
    CREATE TRIGGER search_document_fts_delete AFTER DELETE ON search_document
    BEGIN
        INSERT INTO search_fts(search_fts, rowid, public_text, internal_text)
        VALUES ('delete', old.consultation_id, old.public_text, old.internal_text);
    END;
    """,
    """
    CREATE TRIGGER search_document_fts_update AFTER UPDATE ON search_document
    BEGIN
        INSERT INTO search_fts(search_fts, rowid, public_text, internal_text)
        VALUES ('delete', old.consultation_id, old.public_text, old.internal_text);
        INSERT INTO search_fts(rowid, public_text, internal_text)
        VALUES (new.consultation_id, new.public_text, new.internal_text);
    END;
    """,
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS search_document_fts_update;",
    "DROP TRIGGER IF EXISTS search_document_fts_delete;",
    "DROP TRIGGER IF EXISTS search_document_fts_insert;",
    "DROP TABLE IF EXISTS search_fts;",
]

POSTGRESQL_UP = [
    """
    ALTER TABLE search_document
        ADD COLUMN public_vector tsvector GENERATED ALWAYS AS
            (to_tsvector('russian'::regconfig, public_text)) STORED,
        ADD COLUMN full_vector tsvector GENERATED ALWAYS AS
            (to_tsvector('russian'::regconfig, public_text || ' ' || internal_text))
            STORED;
    """,
    "CREATE INDEX search_document_public_gin ON search_document USING gin (public_vector);",
    "CREATE INDEX search_document_full_gin ON search_document USING gin (full_vector);",
    # The lists of organisation-wide staff read the newest consultations of
    # all departments. Migration 0002 drops this index again and consultations
    # migration 0006 creates it from Consultation.Meta.indexes.
    "CREATE INDEX IF NOT EXISTS consultation_created_id_desc "
    "ON consultations_consultation (created_at DESC, id DESC);",
]
POSTGRESQL_DOWN = [
    "DROP INDEX IF EXISTS consultation_created_id_desc;",
    "DROP INDEX IF EXISTS search_document_full_gin;",
    "DROP INDEX IF EXISTS search_document_public_gin;",
    "ALTER TABLE search_document DROP COLUMN IF EXISTS full_vector, "
    "DROP COLUMN IF EXISTS public_vector;",
]

STATEMENTS = {
    "sqlite": (SQLITE_UP, SQLITE_DOWN),
    "postgresql": (POSTGRESQL_UP, POSTGRESQL_DOWN),
}


def _run(schema_editor, which: int) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in STATEMENTS:
        raise RuntimeError(f"No full-text index written for database '{vendor}'.")
    for statement in STATEMENTS[vendor][which]:
        schema_editor.execute(statement, params=None)


def install(apps, schema_editor):
    from protokol.search.indexing import reindex_all

    _run(schema_editor, 0)
    reindex_all(apps=apps)


def remove(apps, schema_editor):
    _run(schema_editor, 1)


class Migration(migrations.Migration):
    dependencies = [
        ("consultations", "0004_consultation_version"),
        ("protocols", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="SearchDocument",
            fields=[
                (
                    "consultation",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="search_document",
                        serialize=False,
                        to="consultations.consultation",
                    ),
                ),
                ("public_text", models.TextField()),
                ("internal_text", models.TextField(blank=True, default="")),
                ("updated_at", models.DateTimeField()),
            ],
            options={"db_table": "search_document"},
        ),
        migrations.RunPython(install, remove),
    ]
