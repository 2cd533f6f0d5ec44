"""Reject UPDATE and DELETE on conclusions and their signatures, TRUNCATE too.

A DELETE passes only while a retention_purgepermit row names the disputed
consultation, which the retention service inserts for the statements that
delete an expired consultation (retention/disposal.py).
"""

from django.db import migrations

# The consultation of each table's rows, as an SQL expression over OLD.
CONSULTATION_OF = {
    "disputes_conclusion": (
        "(SELECT consultation_id FROM disputes_dispute"
        " WHERE disputes_dispute.id = OLD.dispute_id)"
    ),
    "disputes_conclusionsignature": (
        "(SELECT disputes_dispute.consultation_id FROM disputes_dispute"
        " JOIN disputes_conclusion"
        " ON disputes_conclusion.dispute_id = disputes_dispute.id"
        " WHERE disputes_conclusion.id = OLD.conclusion_id)"
    ),
}


def _permitted(table: str) -> str:
    return (
        "EXISTS (SELECT 1 FROM retention_purgepermit"
        f" WHERE retention_purgepermit.consultation_id = {CONSULTATION_OF[table]})"
    )


def _sqlite_up(table: str) -> list[str]:
    return [
        f"""
        CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
        BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;
        """,
        f"""
        CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
        WHEN NOT {_permitted(table)}
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
            IF TG_OP = 'DELETE' AND {_permitted(table)} THEN
                RETURN OLD;
            END IF;
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
    for table in CONSULTATION_OF:
        for statement in STATEMENTS[vendor][which](table):
            # No parameters, so the PL/pgSQL format string keeps its literal %.
            schema_editor.execute(statement, params=None)


def install(apps, schema_editor):
    _run(schema_editor, 0)


def remove(apps, schema_editor):
    _run(schema_editor, 1)


class Migration(migrations.Migration):
    dependencies = [
        ("disputes", "0001_dispute_procedure"),
        ("retention", "0001_retention_policies_holds_disposals"),
    ]

    operations = [migrations.RunPython(install, remove)]
