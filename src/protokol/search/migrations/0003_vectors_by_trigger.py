"""On PostgreSQL, fill the tsvector columns by a trigger instead of generating them.

A generated column is computed on every insert. The trigger computes both
vectors when an insert leaves them empty or an update changes a text, and
keeps vectors that an insert supplies: the generator supplies those of its
templates, computed once per template instead of once per copy. The values
stay what to_tsvector gives for the stored texts (tests/scale checks it).
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION search_document_vectors() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
        AND NEW.public_text IS NOT DISTINCT FROM OLD.public_text
        AND NEW.internal_text IS NOT DISTINCT FROM OLD.internal_text
    THEN
        NEW.public_vector := OLD.public_vector;
        NEW.full_vector := OLD.full_vector;
        RETURN NEW;
    END IF;
    IF TG_OP = 'INSERT'
        AND NEW.public_vector IS NOT NULL
        AND NEW.full_vector IS NOT NULL
    THEN
        RETURN NEW;
    END IF;
    NEW.public_vector := to_tsvector('russian'::regconfig, NEW.public_text);
    NEW.full_vector := to_tsvector(
        'russian'::regconfig, NEW.public_text || ' ' || NEW.internal_text
    );
    RETURN NEW;
END
$$;
"""

UP = [
    "ALTER TABLE search_document ALTER COLUMN public_vector DROP EXPRESSION, "
    "ALTER COLUMN full_vector DROP EXPRESSION;",
    FUNCTION,
    "CREATE TRIGGER search_document_vectors BEFORE INSERT OR UPDATE "
    "ON search_document FOR EACH ROW EXECUTE FUNCTION search_document_vectors();",
]

DOWN = [
    "DROP TRIGGER IF EXISTS search_document_vectors ON search_document;",
    "DROP FUNCTION IF EXISTS search_document_vectors();",
    # A column cannot become generated again, so it is added anew with its index.
    "ALTER TABLE search_document DROP COLUMN public_vector, DROP COLUMN full_vector;",
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
    dependencies = [("search", "0002_drop_consultation_created_index")]

    operations = [migrations.RunPython(up, down)]
