"""A restore that is interrupted or fails while it writes: all of it or none of it.

Each test runs `protokol restore` in a subprocess whose code is patched at one
point. Then it checks that the installation contains either its old state or
the whole backup, database and data files together.
"""

import signal
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.django_db(databases=[])

# Sends SIGINT to the process right after the database load returns, which is
# when the data files still have to be moved into place.
INTERRUPT_AFTER_LOAD = """
    import os, signal
    from protokol.backups import database

    real_load = database.load

    def load_then_interrupt(*args, **kwargs):
        real_load(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)

    database.load = load_then_interrupt
"""

# Sends SIGINT while the second member is decrypted into the staging directory.
INTERRUPT_DURING_EXTRACTION = """
    import os, signal
    from protokol.backups import archive

    real_extract = archive.BackupReader.extract
    calls = []

    def extract_then_interrupt(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return real_extract(self, *args, **kwargs)

    archive.BackupReader.extract = extract_then_interrupt
"""

# Fails the database load as a full disk would, after the data files moved.
FAIL_LOAD = """
    import errno
    from protokol.backups import database

    def load_fails(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    database.load = load_fails
"""


def restore_patched(installation, patch: str, *args) -> subprocess.CompletedProcess:
    """Run `protokol restore ARGS…` with `patch` applied first."""
    script = textwrap.dedent(patch) + "\nfrom protokol.cli import main\nmain()\n"
    return subprocess.run(
        [sys.executable, "-c", script, "restore", *map(str, args), "-v0"],
        env=installation.env,
        capture_output=True,
        text=True,
        timeout=600,
        # A shell that starts jobs in the background ignores SIGINT for them,
        # and Python then raises no KeyboardInterrupt.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def staging_left(installation) -> list[str]:
    return [path.name for path in installation.data_dir.glob(".restore-*")]


@pytest.fixture
def target(source, installations):
    """An empty installation with the source's keys."""
    return installations.new("target", keys_from=source)


def test_interrupt_after_load_completes(source, backup_file, target):
    result = restore_patched(target, INTERRUPT_AFTER_LOAD, backup_file)

    assert result.returncode == -signal.SIGINT, result.stderr
    assert target.journal_root() == source.journal_root()
    assert target.data_files() == source.data_files()
    assert staging_left(target) == []
    assert "checks did not run" in result.stderr


def test_interrupt_after_load_with_force(source, backup_file, target):
    target.protokol("migrate", "-v0")
    stale = target.data_dir / "attachments" / "stale.bin"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"from before the restore")

    result = restore_patched(target, INTERRUPT_AFTER_LOAD, backup_file, "--force")

    assert result.returncode == -signal.SIGINT, result.stderr
    assert target.journal_root() == source.journal_root()
    # Files that the backup does not contain stay, like tables it does not.
    assert target.data_files() == {
        **source.data_files(),
        "attachments/stale.bin": b"from before the restore",
    }


def test_interrupt_during_extraction_changes_nothing(backup_file, target):
    result = restore_patched(target, INTERRUPT_DURING_EXTRACTION, backup_file)

    assert result.returncode == -signal.SIGINT, result.stderr
    assert "protokol: interrupted." in result.stderr
    assert target.tables() == []
    assert target.data_files() == {}
    assert staging_left(target) == []


def test_failed_load_puts_old_files_back(source, backup_file, target):
    target.protokol("migrate", "-v0")
    tables_before = target.tables()
    # A file under the name of one in the backup, which the restore replaces
    # first and must put back when the load fails.
    name = next(iter(source.data_files()))
    existing = target.data_dir / name
    existing.parent.mkdir(parents=True)
    existing.write_bytes(b"old contents")
    files_before = target.data_files()

    result = restore_patched(target, FAIL_LOAD, backup_file, "--force")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (
        "Restore failed, nothing was restored: No space left on device" in result.stderr
    )
    assert target.tables() == tables_before
    assert target.data_files() == files_before
    assert staging_left(target) == []
