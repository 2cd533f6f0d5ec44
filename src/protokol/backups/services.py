"""Create a backup of the installation, and restore one after checking all of it.

A backup contains the database snapshot, every file under the attachment
store and the sealed-copy cache, and the journal's latest signed checkpoint.
The keys are not in it: the master key, the journal key and the PKI are
backed up separately, because a backup encrypted under the master key would
otherwise contain the key that opens it.
"""

import base64
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog
from django.conf import settings
from django.db import connection

from protokol.backups import archive, database
from protokol.backups.archive import BackupInvalid, BackupKey
from protokol.backups.interrupts import defer_interrupts
from protokol.backups.verification import verify_restored
from protokol.consultations.encryption import load_master_key
from protokol.documents.cache import cache_dir
from protokol.journal import checkpoints

log = structlog.get_logger(__name__)

CHECKPOINT_MEMBER = "checkpoint.json"
FILE_PREFIX = "files/"
SCHEDULED_PATTERN = "protokol-*.backup"

# Receives the number of bytes processed since its previous call.
Progress = Callable[[int], None]
ProgressFactory = Callable[[int], Progress]


class RestoreRejected(Exception):
    """The restore target is not empty, or the backup does not fit it."""


class RestoreFailed(Exception):
    """Writing the restored data failed, and the data from before is in place."""


@dataclass(frozen=True)
class BackupResult:
    """A written backup: its path, member count, total plaintext bytes, tree size."""

    path: Path
    members: int
    bytes: int
    checkpoint_size: int | None
    # The S3 bucket of the attachments, which the backup does not contain.
    attachments_bucket: str = ""


@dataclass
class RestoreReport:
    """What a restore loaded and what the checks after it found.

    `problems` contains one sentence per failed check. An empty list means
    that the journal, the backup's checkpoint and every signature verified.
    """

    members: int = 0
    files: int = 0
    # A Ctrl-C arrived while the data was replaced: the restore is complete,
    # and the checks after it did not run.
    interrupted: bool = False
    journal: str = ""
    checkpoint: str = ""
    signatures_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def data_directories() -> dict[str, Path]:
    """Return the directories whose files a backup contains, by member prefix."""
    return {
        "attachments": Path(settings.MEDIA_ROOT),
        "copies": cache_dir(),
    }


def configured_key(header: dict | None = None) -> BackupKey:
    """Return the key of new backups, or the key that opens a backup's header.

    PROTOKOL_BACKUP_PASSPHRASE selects passphrase mode; without it the
    master key is used. A backup names its mode, and restoring needs the same.
    """
    passphrase = settings.CONFIG.backup_passphrase
    if header is not None:
        mode = header["mode"]
    else:
        mode = "passphrase" if passphrase else "master"
    if mode == "passphrase":
        if not passphrase:
            raise BackupInvalid(
                "This backup is encrypted with a passphrase: set "
                "PROTOKOL_BACKUP_PASSPHRASE to it."
            )
        return BackupKey(mode="passphrase", secret=passphrase.encode())

    master = load_master_key()
    if header and header.get("master_key_id") != master.key_id:
        raise BackupInvalid(
            f"Wrong key: the backup was encrypted under master key id "
            f"{header.get('master_key_id')}, and PROTOKOL_MASTER_KEY_FILE contains "
            f"id {master.key_id}."
        )
    return BackupKey(mode="master", secret=master.key, master_key_id=master.key_id)


def iter_data_files() -> Iterator[tuple[str, Path]]:
    """Yield (member name, path) of every regular file in the data directories."""
    for prefix, directory in data_directories().items():
        if not directory.is_dir():
            continue
        for path in sorted(directory.rglob("*")):
            # Temporary files of writes in progress start with a dot.
            if path.is_file() and not path.name.startswith("."):
                relative = path.relative_to(directory).as_posix()
                yield f"{FILE_PREFIX}{prefix}/{relative}", path


def _checkpoint_record() -> dict | None:
    """Issue a checkpoint when the journal grew since the latest; return the latest."""
    from protokol.journal import tree

    latest = checkpoints.latest_checkpoint()
    if tree.tree_size() > (latest.size if latest else 0):
        checkpoints.issue_checkpoint_safely()
        latest = checkpoints.latest_checkpoint()
    if latest is None:
        return None
    token = latest.timestamp_token
    return {
        "size": latest.size,
        "root": latest.root_hash,
        "note": latest.note,
        "created_at": latest.created_at.isoformat(),
        "timestamp_token": base64.b64encode(bytes(token)).decode() if token else None,
    }


def create_backup(
    path: Path, progress_factory: ProgressFactory | None = None
) -> BackupResult:
    """Write an encrypted backup to `path`, through a temporary file renamed at the end.

    The directory of `path` must exist. `progress_factory(total_bytes)`
    returns a callback that receives the bytes encrypted so far; it is
    called once the snapshot exists.
    """
    path = Path(path)
    key = configured_key()
    checkpoint = _checkpoint_record()

    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".backup-") as staging:
        snapshot_path = Path(staging) / "database"
        database_member = database.snapshot(snapshot_path)
        checkpoint_bytes = json.dumps(checkpoint).encode()

        files = list(iter_data_files())
        total = snapshot_path.stat().st_size + len(checkpoint_bytes)
        total += sum(file.stat().st_size for _, file in files)
        progress = progress_factory(total) if progress_factory else _ignore

        meta = {
            "created_at": datetime.now(UTC).isoformat(),
            "database": database.vendor(),
            "database_member": database_member,
            "checkpoint_size": checkpoint["size"] if checkpoint else None,
        }
        partial = Path(staging) / "backup.partial"
        writer = archive.BackupWriter(partial, key, meta)
        try:
            writer.add_file(database_member, snapshot_path, progress)
            snapshot_path.unlink()
            writer.add_stream(
                CHECKPOINT_MEMBER,
                io.BytesIO(checkpoint_bytes),
                len(checkpoint_bytes),
                progress,
            )
            for name, file in files:
                writer.add_file(name, file, progress)
            writer.close()
        except BaseException:
            writer.abort()
            raise
        os.replace(partial, path)

    result = BackupResult(
        path=path,
        members=len(writer.members),
        bytes=total,
        checkpoint_size=meta["checkpoint_size"],
        attachments_bucket=settings.CONFIG.s3_bucket,
    )
    log.info(
        "backup_created",
        path=str(path),
        members=result.members,
        bytes=result.bytes,
        database=meta["database"],
        checkpoint_size=result.checkpoint_size,
    )
    if result.attachments_bucket:
        # TODO: copy the bucket's objects into the backup; until then a
        # restore needs the bucket itself, backed up by its own means.
        log.warning("backup_without_attachments", bucket=result.attachments_bucket)
    return result


def restore_backup(
    path: Path, *, force: bool, progress_factory: ProgressFactory | None = None
) -> RestoreReport:
    """Check a backup completely, load it into the configured database, verify.

    Nothing is written until the target is found empty (or `force` is set) and
    every member decrypts and matches the manifest. Then the data files and
    the database are replaced together or not at all. Raises BackupInvalid or
    RestoreRejected before writing, and RestoreFailed when writing failed and
    was undone. Returns a report of the checks after.
    """
    reader = archive.BackupReader(Path(path), configured_key)
    try:
        _check_target(reader.manifest, force=force)
        staging_root = Path(settings.CONFIG.data_dir)
        staging_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=staging_root, prefix=".restore-") as tmp:
            try:
                staged = _extract_all(reader, Path(tmp), progress_factory)
                checkpoint = json.loads(staged[CHECKPOINT_MEMBER].read_bytes())
                report = RestoreReport(members=len(reader.members))
                database_file = staged[reader.manifest["database_member"]]
                report.files, report.interrupted = _replace_data(
                    staged, database_file, Path(tmp) / "replaced", force=force
                )
            except OSError as error:
                raise RestoreFailed(f"{describe_os_error(error)}.") from error
    finally:
        reader.close()

    log.info(
        "backup_restored",
        path=str(path),
        members=report.members,
        force=force,
        interrupted=report.interrupted,
    )
    if not report.interrupted:
        verify_restored(report, checkpoint)
    return report


def describe_os_error(error: OSError) -> str:
    """Return the reason of a failed file operation and the file it names."""
    reason = error.strerror or str(error)
    return f"{reason}: {error.filename}" if error.filename else reason


def _check_target(manifest: dict, *, force: bool) -> None:
    if manifest["database"] != database.vendor():
        raise RestoreRejected(
            f"The backup contains a {manifest['database']} database, and the "
            f"configured database is {database.vendor()}: set "
            "PROTOKOL_DATABASE_URL to a database of the same kind."
        )
    tables = database.table_names()
    if tables and not force:
        raise RestoreRejected(
            f"The configured database {connection.settings_dict['NAME']} is not "
            f"empty: it contains {len(tables)} tables (e.g. {tables[0]}). Restore "
            "into a new, empty database, or pass --force to replace its contents."
        )


def _extract_all(reader, staging: Path, progress_factory) -> dict[str, Path]:
    """Decrypt every member into `staging`; raise BackupInvalid at the first fault."""
    directories = data_directories()
    for member in reader.members:
        prefix = member.name.removeprefix(FILE_PREFIX).partition("/")[0]
        if member.name.startswith(FILE_PREFIX) and prefix not in directories:
            raise BackupInvalid(f"Member {member.name} names no data directory.")

    total = sum(member.size for member in reader.members)
    progress = progress_factory(total) if progress_factory else _ignore
    staged = {}
    for number, member in enumerate(reader.members):
        target = staging / f"{number:08d}"
        with target.open("wb") as handle:
            reader.extract(member, handle, progress)
        staged[member.name] = target

    missing = {CHECKPOINT_MEMBER, reader.manifest["database_member"]} - set(staged)
    if missing:
        raise BackupInvalid(f"Backup is incomplete: {sorted(missing)[0]} is missing.")
    return staged


def _replace_data(
    staged: dict[str, Path], database_file: Path, replaced: Path, *, force: bool
) -> tuple[int, bool]:
    """Move the data files into place and load the database, or do neither.

    SIGINT is deferred meanwhile, so a Ctrl-C cannot leave the database of
    the backup with only some of its files. When the load fails, the files are
    moved back; the load itself is one transaction. Returns the number of
    files placed and whether a SIGINT arrived.

    NOTE: a SIGKILL or power loss between the moves and the load's commit
    leaves the new files beside the old database. The replaced files then
    stay in the staging directory, because only a recovery journal could
    put them back.
    """
    with defer_interrupts() as interrupts:
        placed = _place_files(staged, replaced)
        try:
            database.load(database_file, replace=force)
        except BaseException:
            placed.undo()
            raise
    return len(placed.moves), interrupts.received


@dataclass
class PlacedFiles:
    """Data files moved into place, each with the file it replaced, if any."""

    moves: list[tuple[Path, Path | None]] = field(default_factory=list)

    def undo(self) -> None:
        """Remove the placed files and move the replaced ones back, newest first."""
        for target, replaced in reversed(self.moves):
            try:
                target.unlink(missing_ok=True)
                if replaced is not None:
                    shutil.move(replaced, target)
            except OSError as error:
                # The other files are still put back; this one needs the
                # operator, so the log names it.
                log.error("restore_undo_failed", path=str(target), error=str(error))


def _place_files(staged: dict[str, Path], replaced: Path) -> PlacedFiles:
    """Move the restored data files to their directories, keeping replaced ones.

    A file of the same name is moved under `replaced` first. On any error the
    moves so far are undone before it is raised.
    """
    directories = data_directories()
    placed = PlacedFiles()
    replaced.mkdir()
    try:
        for name, path in staged.items():
            if not name.startswith(FILE_PREFIX):
                continue
            prefix, _, relative = name.removeprefix(FILE_PREFIX).partition("/")
            target = directories[prefix] / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            old = None
            if target.exists():
                # Staged files have unique names, so they name the old ones too.
                old = replaced / path.name
                shutil.move(target, old)
            placed.moves.append((target, old))
            shutil.move(path, target)
    except BaseException:
        placed.undo()
        raise
    return placed


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the `keep` newest scheduled backups in `directory`."""
    backups = sorted(directory.glob(SCHEDULED_PATTERN))
    removed = backups[:-keep] if len(backups) > keep else []
    for path in removed:
        path.unlink(missing_ok=True)
        log.info("backup_pruned", path=str(path))
    return removed


def scheduled_path(directory: Path, now: datetime) -> Path:
    """Return the file name of a scheduled backup; names sort by time."""
    return directory / f"protokol-{now.astimezone(UTC):%Y%m%dT%H%M%S%fZ}.backup"


def _ignore(_count: int) -> None:
    pass
