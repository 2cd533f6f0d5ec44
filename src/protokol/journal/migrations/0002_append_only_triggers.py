"""Reject UPDATE and DELETE on the journal, and on PostgreSQL also TRUNCATE."""

from django.db import migrations

SQLITE_UP = [
    """
    CREATE TRIGGER journal_entry_no_update BEFORE UPDATE ON journal_entry
    BEGIN SELECT RAISE(ABORT, 'journal_entry is append-only'); END;
    """,
    """
    CREATE TRIGGER journal_entry_no_delete BEFORE DELETE ON journal_entry
    BEGIN SELECT RAISE(ABORT, 'journal_entry is append-only'); END;
    """,
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS journal_entry_no_update;",
    "DROP TRIGGER IF EXISTS journal_entry_no_delete;",
]

POSTGRESQL_UP = [
    """
    CREATE FUNCTION journal_entry_reject_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'journal_entry is append-only (% rejected)', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END;
    $$;
    """,
    """
    CREATE TRIGGER journal_entry_no_update_delete
    BEFORE UPDATE OR DELETE ON journal_entry
    FOR EACH ROW EXECUTE FUNCTION journal_entry_reject_change();
    """,
    """
    CREATE TRIGGER journal_entry_no_truncate
    BEFORE TRUNCATE ON journal_entry
    FOR EACH STATEMENT EXECUTE FUNCTION journal_entry_reject_change();
    """,
]
POSTGRESQL_DOWN = [
    "DROP TRIGGER IF EXISTS journal_entry_no_truncate ON journal_entry;",
    "DROP TRIGGER IF EXISTS journal_entry_no_update_delete ON journal_entry;",
    "DROP FUNCTION IF EXISTS journal_entry_reject_change();",
]

STATEMENTS = {
    "sqlite": (SQLITE_UP, SQLITE_DOWN),
    "postgresql": (POSTGRESQL_UP, POSTGRESQL_DOWN),
}


def _run(schema_editor, which: int) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in STATEMENTS:
        raise RuntimeError(f"No append-only triggers written for database '{vendor}'.")
    for statement in STATEMENTS[vendor][which]:
        # No parameters, so the PL/pgSQL format string keeps its literal %.
        schema_editor.execute(statement, params=None)


def install(apps, schema_editor):
    _run(schema_editor, 0)


def remove(apps, schema_editor):
    _run(schema_editor, 1)


class Migration(migrations.Migration):
    dependencies = [("journal", "0001_initial")]

    operations = [migrations.RunPython(install, remove)]
