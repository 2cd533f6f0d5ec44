"""On PostgreSQL, copy each consultation's creation time into its search document.

Search reads the newest matches of a word. With the creation time in a GIN
index next to the full vector, PostgreSQL reads only the matches among the
newest documents, instead of reading the vector of every new consultation
until enough match. A B-tree index on the creation time finds where the
newest documents start. Triggers keep the copy equal to
consultations_consultation.created_at, so the Django model does not declare
the column, as it does not declare the vectors.
"""

from django.db import migrations

FUNCTIONS = [
    """
    CREATE OR REPLACE FUNCTION search_document_created_at() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        SELECT created_at INTO NEW.created_at
        FROM consultations_consultation WHERE id = NEW.consultation_id;
        RETURN NEW;
    END
    $$;
    """,
    """
    CREATE OR REPLACE FUNCTION consultation_created_at_to_search() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE search_document SET created_at = NEW.created_at
        WHERE consultation_id = NEW.id;
        RETURN NULL;
    END
    $$;
    """,
]

UP = [
    "ALTER TABLE search_document ADD COLUMN created_at timestamptz;",
    *FUNCTIONS,
    "CREATE TRIGGER search_document_created_at BEFORE INSERT "
    "OR UPDATE OF consultation_id ON search_document "
    "FOR EACH ROW EXECUTE FUNCTION search_document_created_at();",
    "CREATE TRIGGER consultation_created_at_to_search AFTER UPDATE OF created_at "
    "ON consultations_consultation FOR EACH ROW "
    "WHEN (OLD.created_at IS DISTINCT FROM NEW.created_at) "
    "EXECUTE FUNCTION consultation_created_at_to_search();",
    "UPDATE search_document AS d SET created_at = c.created_at "
    "FROM consultations_consultation AS c WHERE c.id = d.consultation_id;",
    "CREATE INDEX search_document_created ON search_document "
    "(created_at DESC, consultation_id DESC);",
    # One GIN index over both columns finds the matches within a window
    # without building a bitmap of every match of the word. btree_gin ships
    # with PostgreSQL and is a trusted extension from PostgreSQL 13 on, so
    # the owner of the database may create it.
    "CREATE EXTENSION IF NOT EXISTS btree_gin;",
    "CREATE INDEX search_document_full_created_gin ON search_document "
    "USING gin (created_at, full_vector);",
]

# The btree_gin extension stays, as other indexes may use it.
DOWN = [
    "DROP INDEX IF EXISTS search_document_full_created_gin;",
    "DROP TRIGGER IF EXISTS consultation_created_at_to_search "
    "ON consultations_consultation;",
    "DROP TRIGGER IF EXISTS search_document_created_at ON search_document;",
    "DROP FUNCTION IF EXISTS consultation_created_at_to_search();",
    "DROP FUNCTION IF EXISTS search_document_created_at();",
    "ALTER TABLE search_document DROP COLUMN IF EXISTS created_at;",
]


def _run(schema_editor, statements) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in statements:
        schema_editor.execute(statement, params=None)


def up(apps, schema_editor):
    _run(schema_editor, UP)


def down(apps, schema_editor):
    _run(schema_editor, DOWN)


class Migration(migrations.Migration):
    dependencies = [
        ("search", "0003_vectors_by_trigger"),
        ("consultations", "0006_consultation_created_id_desc"),
    ]

    operations = [migrations.RunPython(up, down)]
