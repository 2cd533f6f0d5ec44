"""Reject UPDATE and DELETE on signatures and revocations, on PostgreSQL TRUNCATE too."""

from django.db import migrations

TABLES = ("signing_signature", "signing_revocation")


def _sqlite_up(table: str) -> list[str]:
    return [
        f"""
        CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
        BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;
        """,
        f"""
        CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
        BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;
        """,
    ]


def _sqlite_down(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_update;",
        f"DROP TRIGGER IF EXISTS {table}_no_delete;",
    ]


def _postgresql_up(table: str) -> list[str]:
    return [
        f"""
        CREATE FUNCTION {table}_reject_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{table} is append-only (% rejected)', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END;
        $$;
        """,
        f"""
        CREATE TRIGGER {table}_no_update_delete
        BEFORE UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION {table}_reject_change();
        """,
        f"""
        CREATE TRIGGER {table}_no_truncate
        BEFORE TRUNCATE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION {table}_reject_change();
        """,
    ]


def _postgresql_down(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};",
        f"DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table};",
        f"DROP FUNCTION IF EXISTS {table}_reject_change();",
    ]


STATEMENTS = {
    "sqlite": (_sqlite_up, _sqlite_down),
    "postgresql": (_postgresql_up, _postgresql_down),
}


def _run(schema_editor, which: int) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in STATEMENTS:
        raise RuntimeError(f"No append-only triggers written for database '{vendor}'.")
    for table in TABLES:
        for statement in STATEMENTS[vendor][which](table):
            # No parameters, so the PL/pgSQL format string keeps its literal %.
            schema_editor.execute(statement, params=None)


def install(apps, schema_editor):
    _run(schema_editor, 0)


def remove(apps, schema_editor):
    _run(schema_editor, 1)


class Migration(migrations.Migration):
    dependencies = [("signing", "0001_initial")]

    operations = [migrations.RunPython(install, remove)]
