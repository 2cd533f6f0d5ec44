"""`protokol journal pg-role`: an application role that can only append the journal."""

import secrets
from io import StringIO

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from psycopg import errors

from protokol.journal import pgrole

INDEX = '"index"'
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="roles and grants are PostgreSQL's"
)
# Each statement the application role must not run, and the table it names.
CHANGES = [
    ("UPDATE journal_entry SET actor_name = 'x'", "journal_entry"),
    (f"DELETE FROM journal_entry WHERE {INDEX} = 0", "journal_entry"),
    ("TRUNCATE journal_entry", "journal_entry"),
    ("UPDATE journal_merkle_node SET hash = ''", "journal_merkle_node"),
    ("DELETE FROM journal_merkle_node", "journal_merkle_node"),
    ("TRUNCATE journal_merkle_node", "journal_merkle_node"),
    ("UPDATE journal_checkpoint SET note = ''", "journal_checkpoint"),
    ("DELETE FROM journal_checkpoint", "journal_checkpoint"),
    ("TRUNCATE journal_checkpoint", "journal_checkpoint"),
    ("UPDATE journal_payload SET body = '{}'", "journal_payload"),
    ("TRUNCATE journal_payload", "journal_payload"),
]


def conninfo(**override) -> str:
    settings = connection.settings_dict
    fields = {
        "host": settings["HOST"] or None,
        "port": settings["PORT"] or None,
        "user": settings["USER"] or None,
        "password": settings["PASSWORD"] or None,
        "dbname": settings["NAME"],
        **override,
    }
    return psycopg.conninfo.make_conninfo(
        **{key: value for key, value in fields.items() if value is not None}
    )


@pytest.fixture
def app_role(db):
    """Create a login role with the printed grants, committed for other sessions."""
    role = f"protokol_app_test_{secrets.token_hex(4)}"
    with psycopg.connect(conninfo(), autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        try:
            for statement in pgrole.grant_statements(
                role, connection.settings_dict["NAME"]
            ):
                admin.execute(statement)
            yield role
        finally:
            admin.execute(f'DROP OWNED BY "{role}"')
            admin.execute(f'DROP ROLE "{role}"')


@postgresql_only
def test_app_role_may_insert_and_select_journal(app_role):
    with psycopg.connect(conninfo(user=app_role, password=None)) as app:
        app.execute(
            "INSERT INTO journal_entry "
            f"({INDEX}, created_at, action, actor_name, actor_role, object_type, "
            "object_id, object_label, request_id, leaf_hash) VALUES "
            "(4000000000, now(), 'journal:read', 'system', 'system', 'test', "
            "'1', '', '', repeat('0', 64))"
        )
        app.execute(
            f"INSERT INTO journal_merkle_node (level, {INDEX}, hash) "
            "VALUES (0, 4000000000, repeat('0', 64))"
        )
        found = app.execute(
            f"SELECT count(*) FROM journal_entry WHERE {INDEX} = 4000000000"
        ).fetchone()
        # Nothing written here may stay behind for the other tests.
        app.rollback()

    assert found == (1,)


@postgresql_only
@pytest.mark.parametrize(("statement", "table"), CHANGES)
def test_app_role_cannot_change_journal(app_role, statement, table):
    with (
        psycopg.connect(conninfo(user=app_role, password=None)) as app,
        pytest.raises(errors.InsufficientPrivilege) as raised,
    ):
        app.execute(statement)

    # The privilege check, not the append-only trigger, refused it.
    assert f"permission denied for table {table}" in str(raised.value)


@postgresql_only
def test_app_role_cannot_disable_triggers(app_role):
    with (
        psycopg.connect(conninfo(user=app_role, password=None)) as app,
        pytest.raises(errors.InsufficientPrivilege) as raised,
    ):
        app.execute(
            "ALTER TABLE journal_entry DISABLE TRIGGER journal_entry_no_update_delete"
        )

    assert "must be owner of table journal_entry" in str(raised.value)


@postgresql_only
def test_app_role_keeps_writing_other_tables(app_role):
    with psycopg.connect(conninfo(user=app_role, password=None)) as app:
        app.execute("UPDATE consultations_consultation SET subject = subject")
        app.execute("DELETE FROM django_session")
        app.rollback()


def test_pg_role_prints_statements():
    out = StringIO()

    call_command(
        "journal",
        "pg-role",
        "--role",
        "protokol_app",
        "--database",
        "protokol",
        stdout=out,
    )

    lines = out.getvalue().splitlines()
    assert lines[-4] == (
        'REVOKE ALL ON "public".journal_entry, "public".journal_merkle_node, '
        '"public".journal_checkpoint FROM PUBLIC, "protokol_app";'
    )
    assert lines[-3] == (
        'GRANT SELECT, INSERT ON "public".journal_entry, "public".journal_merkle_node, '
        '"public".journal_checkpoint TO "protokol_app";'
    )
    assert lines[-2] == (
        'REVOKE ALL ON "public".journal_payload FROM PUBLIC, "protokol_app";'
    )
    assert lines[-1] == (
        'GRANT SELECT, INSERT, DELETE ON "public".journal_payload TO "protokol_app";'
    )
    assert 'GRANT CONNECT, TEMPORARY ON DATABASE "protokol" TO "protokol_app";' in lines


@pytest.mark.parametrize("role", ["App", "app;drop", "1app", ""])
def test_pg_role_rejects_bad_role_name(role):
    with pytest.raises(CommandError, match="role name"):
        call_command("journal", "pg-role", "--role", role, stdout=StringIO())


@postgresql_only
def test_pg_role_apply_missing_role_rejected(db):
    role = f"protokol_missing_{secrets.token_hex(4)}"

    with pytest.raises(CommandError) as error:
        call_command("journal", "pg-role", "--role", role, "--apply")

    assert f'role "{role}" does not exist' in str(error.value)
    assert "granted nothing" in str(error.value)
    assert f"CREATE ROLE {role} LOGIN" in str(error.value)
