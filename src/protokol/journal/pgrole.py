"""The PostgreSQL privileges of an application role that cannot change the journal.

The tables belong to the role that runs `protokol migrate` (the owner). The
application connects as another role, which may read and write every table
except the journal's, where it may only SELECT and INSERT (and DELETE on
journal_payload, which its trigger limits to redaction). Without UPDATE,
DELETE and TRUNCATE, and without ownership (which would let it disable the
append-only triggers), the database refuses a change of the journal before
any trigger runs.
"""

import re

JOURNAL_TABLES = ("journal_entry", "journal_merkle_node", "journal_checkpoint")
# Format 2 payloads: redaction deletes rows, nothing updates them.
PAYLOAD_TABLE = "journal_payload"
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def grant_statements(role: str, database: str, schema: str = "public") -> list[str]:
    """Return the statements that give `role` its privileges, to run as the owner.

    They can be run again after every migration: new tables get the general
    grant, and the journal's lose UPDATE, DELETE and TRUNCATE again.
    """
    if not ROLE_NAME.match(role):
        raise ValueError(
            f"role name {role!r} must be lowercase letters, digits and underscores"
        )
    grantee = _quote(role)
    where = _quote(schema)
    journal = ", ".join(f"{where}.{table}" for table in JOURNAL_TABLES)
    return [
        f"GRANT CONNECT, TEMPORARY ON DATABASE {_quote(database)} TO {grantee};",
        f"GRANT USAGE ON SCHEMA {where} TO {grantee};",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {where} "
        f"TO {grantee};",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {where} TO {grantee};",
        f"REVOKE ALL ON {journal} FROM PUBLIC, {grantee};",
        f"GRANT SELECT, INSERT ON {journal} TO {grantee};",
        f"REVOKE ALL ON {where}.{PAYLOAD_TABLE} FROM PUBLIC, {grantee};",
        f"GRANT SELECT, INSERT, DELETE ON {where}.{PAYLOAD_TABLE} TO {grantee};",
    ]


def script(role: str, database: str, schema: str = "public") -> str:
    """Return grant_statements() as an SQL script with a comment on how to run it."""
    header = [
        "-- Run as the owner of the tables (the role that runs `protokol migrate`),",
        "-- after every migration. Create the application role once before:",
        f"--   CREATE ROLE {_quote(role)} LOGIN PASSWORD '…';",
        f"-- {role} may SELECT and INSERT the journal tables, nothing more there.",
    ]
    return "\n".join([*header, *grant_statements(role, database, schema)]) + "\n"
