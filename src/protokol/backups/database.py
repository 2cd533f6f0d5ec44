"""Consistent snapshots of the configured database, and loading them back.

SQLite is copied with the online backup API in one step, which holds one read
transaction, so the copy is the database at one moment while writers go on
(WAL mode). PostgreSQL is dumped by pg_dump in its custom format: pg_dump
reads every table in one REPEATABLE READ transaction, and pg_restore creates
the append-only triggers after the rows, in dependency order.
"""

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from django.db import connection

SQLITE_MEMBER = "database.sqlite3"
POSTGRESQL_MEMBER = "database.pgdump"
MEMBERS = {"sqlite": SQLITE_MEMBER, "postgresql": POSTGRESQL_MEMBER}


class DatabaseToolFailed(Exception):
    """pg_dump or pg_restore is missing or exited with an error."""


def vendor() -> str:
    """Return the configured database's vendor: "sqlite" or "postgresql"."""
    return connection.vendor


def snapshot(target: Path) -> str:
    """Write a consistent copy of the database to `target`; return its member name."""
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        destination = sqlite3.connect(target)
        try:
            # pages=-1 copies everything in one step under one read lock, so
            # a write from another process cannot restart or split the copy.
            connection.connection.backup(destination, pages=-1)
        finally:
            destination.close()
        return SQLITE_MEMBER

    _run_pg_tool("pg_dump", "--format=custom", "--compress=6", f"--file={target}")
    return POSTGRESQL_MEMBER


def table_names() -> list[str]:
    """Return the tables of the configured database, sorted; empty means empty."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        else:
            cursor.execute(
                "SELECT table_schema || '.' || table_name "
                "FROM information_schema.tables WHERE table_schema NOT IN "
                "('pg_catalog', 'information_schema') ORDER BY 1"
            )
        return [row[0] for row in cursor.fetchall()]


def load(source: Path, *, replace: bool) -> None:
    """Load a snapshot into the configured database in one transaction.

    With `replace`, objects of the snapshot that exist already are dropped
    first; otherwise the database must be empty.
    """
    if connection.vendor == "sqlite":
        target = connection.settings_dict["NAME"]
        connection.close()
        snapshot_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        destination = sqlite3.connect(target, timeout=20)
        try:
            # The backup API replaces every page of the destination in one
            # write transaction: tables, indexes and triggers alike.
            snapshot_db.backup(destination, pages=-1)
        finally:
            destination.close()
            snapshot_db.close()
        return

    connection.close()
    options = ["--single-transaction", "--exit-on-error", "--no-owner"]
    # Grants name roles that may not exist on the target server; re-run
    # `protokol journal pg-role --apply` after a restore.
    options.append("--no-privileges")
    if replace:
        options += ["--clean", "--if-exists"]
    # In a session of its own, pg_restore gets no SIGINT from the terminal,
    # because the restore defers Ctrl-C until the load and the files are done.
    _run_pg_tool(
        "pg_restore",
        *options,
        "--dbname",
        _database_name(),
        str(source),
        new_session=True,
    )


def _database_name() -> str:
    return connection.settings_dict["NAME"]


def _run_pg_tool(tool: str, *arguments: str, new_session: bool = False) -> None:
    """Run pg_dump or pg_restore against the configured PostgreSQL database."""
    executable = shutil.which(tool)
    if executable is None:
        raise DatabaseToolFailed(
            f"{tool} was not found on PATH: install PostgreSQL's client tools "
            "(Debian package postgresql-client) in the server's major version."
        )
    database = connection.settings_dict
    env = {
        **os.environ,
        "PGHOST": database["HOST"] or "",
        "PGPORT": str(database["PORT"] or 5432),
        "PGUSER": database["USER"] or "",
        "PGPASSWORD": database["PASSWORD"] or "",
        "PGDATABASE": database["NAME"],
        "PGCONNECT_TIMEOUT": "10",
    }
    command = [executable, *arguments]
    if tool == "pg_dump":
        command.append(database["NAME"])
    result = subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        start_new_session=new_session,
    )
    if result.returncode != 0:
        raise DatabaseToolFailed(
            f"{tool} exited with {result.returncode}: {result.stderr.strip()}"
        )
