"""Separate Protokol installations for backup tests: a data directory and a database.

Each installation runs `protokol` commands in subprocesses, so backups and
restores go through the real command line against a database of their own:
a SQLite file in the data directory, or a PostgreSQL database that the test
creates and drops on the server of the test database.
"""

import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from django.conf import settings

# Files and directories of an installation's keys, copied to the installation
# that a backup is restored into; backups never contain them.
KEY_FILES = ("master.key", "journal_ed25519.pem", "secret_key", "pki")
POPULATE_SCRIPT = Path(__file__).with_name("populate.py")


def vendor() -> str:
    """Return the vendor of the suite's configured database."""
    engine = settings.DATABASES["default"]["ENGINE"]
    return "postgresql" if "postgresql" in engine else "sqlite"


def _connect(name: str, **options):
    database = settings.DATABASES["default"]
    return psycopg.connect(
        host=database["HOST"],
        port=database["PORT"] or 5432,
        user=database["USER"],
        password=database["PASSWORD"] or None,
        dbname=name,
        **options,
    )


@dataclass
class Installation:
    """A data directory and the database that PROTOKOL_DATABASE_URL names for it."""

    data_dir: Path
    database_url: str
    extra_env: dict[str, str] = field(default_factory=dict)
    pg_name: str | None = None

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(sys.path),
            "PROTOKOL_DEMO": "1",
            "PROTOKOL_DATA_DIR": str(self.data_dir),
            "PROTOKOL_DATABASE_URL": self.database_url,
            "PROTOKOL_TSA_URL": "",
            "PROTOKOL_LOG_LEVEL": "WARNING",
            **self.extra_env,
        }

    def protokol(self, *args, check: bool = True) -> subprocess.CompletedProcess:
        """Run `protokol ARGS…`; with `check`, fail the test on a non-zero exit."""
        command = [sys.executable, "-c", "from protokol.cli import main; main()"]
        result = subprocess.run(
            [*command, *map(str, args)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if check:
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def start(self, *args) -> subprocess.Popen:
        """Start `protokol ARGS…` in the background, its output in the data dir."""
        command = [sys.executable, "-c", "from protokol.cli import main; main()"]
        log_path = self.data_dir / f"{args[0]}-{uuid.uuid4().hex[:6]}.log"
        with log_path.open("wb") as log_file:
            return subprocess.Popen(
                [*command, *map(str, args)],
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )

    def populate(self, consultations: int) -> None:
        """Migrate, seed the demo and sign `consultations` consultations."""
        self.protokol("migrate", "-v0")
        result = subprocess.run(
            [sys.executable, str(POPULATE_SCRIPT), str(consultations)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr

    def journal_root(self) -> str:
        """Return the root hash that `protokol journal verify` reports."""
        output = self.protokol("journal", "-v0", "verify").stdout
        return output.split(" root ", 1)[1].split(",", 1)[0]

    def tables(self) -> list[str]:
        """Return the names of the database's tables; empty for a new database."""
        if self.pg_name is None:
            sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
        else:
            sql = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        return [row[0] for row in self.query(sql)]

    def query(self, sql: str) -> list[tuple]:
        """Run one SELECT on the installation's database and return its rows."""
        if self.pg_name is None:
            path = Path(self.database_url.removeprefix("sqlite:///"))
            if not path.exists():
                return []
            database = sqlite3.connect(path)
            try:
                return database.execute(sql).fetchall()
            finally:
                database.close()
        with _connect(self.pg_name) as connection:
            return connection.execute(sql).fetchall()

    def data_files(self) -> dict[str, bytes]:
        """Return every attachment and cached copy file, by relative path."""
        files = {}
        for name in ("attachments", "copies"):
            directory = self.data_dir / name
            for path in sorted(directory.rglob("*")) if directory.exists() else []:
                if path.is_file():
                    files[path.relative_to(self.data_dir).as_posix()] = (
                        path.read_bytes()
                    )
        return files


class Installations:
    """Make installations on the suite's database vendor; drop their databases after."""

    def __init__(self, root: Path):
        self.root = root
        self.pg_names: list[str] = []

    def new(self, name: str, *, keys_from: Installation | None = None, **env):
        data_dir = self.root / f"{name}-{uuid.uuid4().hex[:8]}"
        data_dir.mkdir(parents=True)
        if keys_from is not None:
            for key in KEY_FILES:
                source = keys_from.data_dir / key
                if source.is_dir():
                    shutil.copytree(source, data_dir / key)
                elif source.exists():
                    shutil.copy2(source, data_dir / key)

        if vendor() == "sqlite":
            url = f"sqlite:///{data_dir / 'protokol.sqlite3'}"
            return Installation(data_dir, url, dict(env))

        pg_name = f"test_protokol_backup_{data_dir.name.replace('-', '_')}"
        with _connect("postgres", autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{pg_name}"')
        self.pg_names.append(pg_name)
        database = settings.DATABASES["default"]
        url = (
            f"postgresql://{database['USER']}@{database['HOST']}:"
            f"{database['PORT'] or 5432}/{pg_name}"
        )
        return Installation(data_dir, url, dict(env), pg_name=pg_name)

    def drop_all(self) -> None:
        with _connect("postgres", autocommit=True) as connection:
            for name in self.pg_names:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
