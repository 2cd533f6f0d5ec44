"""Build the Merkle nodes of existing entries; make nodes and checkpoints append-only.

The backfill hashes here are written out in full rather than imported, so the
migration keeps working if the journal modules change later.
"""

import hashlib

from django.db import migrations

TABLES = ["journal_merkle_node", "journal_checkpoint"]
BATCH = 2000


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


POSTGRESQL_FUNCTION = """
    CREATE FUNCTION journal_reject_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only (% rejected)', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END;
    $$;
"""


def _postgresql_up(table: str) -> list[str]:
    return [
        f"""
        CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION journal_reject_change();
        """,
        f"""
        CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION journal_reject_change();
        """,
    ]


def _postgresql_down(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};",
        f"DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table};",
    ]


def _statements(vendor: str, install: bool) -> list[str]:
    if vendor == "sqlite":
        build = _sqlite_up if install else _sqlite_down
        return [sql for table in TABLES for sql in build(table)]
    if vendor == "postgresql":
        if install:
            return [POSTGRESQL_FUNCTION] + [
                sql for table in TABLES for sql in _postgresql_up(table)
            ]
        return [sql for table in TABLES for sql in _postgresql_down(table)] + [
            "DROP FUNCTION IF EXISTS journal_reject_change();"
        ]
    raise RuntimeError(f"No append-only triggers written for database '{vendor}'.")


def backfill_nodes(apps, schema_editor):
    """Insert the nodes of every perfect subtree of the entries already stored."""
    entry_model = apps.get_model("journal", "JournalEntry")
    node_model = apps.get_model("journal", "MerkleNode")
    # (level, hash) of the perfect subtrees of the leaves read so far.
    stack: list[tuple[int, bytes]] = []
    batch = []
    rows = entry_model.objects.order_by("index").values_list("index", "leaf_hash")
    for expected, (index, leaf_hash) in enumerate(rows.iterator(chunk_size=BATCH)):
        if index != expected:
            raise RuntimeError(
                f"journal entry {expected} is missing; cannot build tree"
            )
        batch.append(node_model(level=0, index=index, hash=leaf_hash))
        level, node = 0, bytes.fromhex(leaf_hash)
        while stack and stack[-1][0] == level:
            left = stack.pop()[1]
            node = hashlib.sha256(b"\x01" + left + node).digest()
            level += 1
            batch.append(node_model(level=level, index=index >> level, hash=node.hex()))
        stack.append((level, node))
        if len(batch) >= BATCH:
            node_model.objects.bulk_create(batch)
            batch = []
    node_model.objects.bulk_create(batch)


def install_triggers(apps, schema_editor):
    for statement in _statements(schema_editor.connection.vendor, install=True):
        # No parameters, so the PL/pgSQL format string keeps its literal %.
        schema_editor.execute(statement, params=None)


def remove_triggers(apps, schema_editor):
    for statement in _statements(schema_editor.connection.vendor, install=False):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("journal", "0003_merkle_nodes_and_checkpoints")]

    # Backward: the nodes go with the table that 0003 drops.
    operations = [
        migrations.RunPython(backfill_nodes, migrations.RunPython.noop),
        migrations.RunPython(install_triggers, remove_triggers),
    ]
