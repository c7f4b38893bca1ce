"""Backups, restore and media garbage collection.

- `backup_now` writes an online, consistent copy (SQLite's backup API, under the writer's lock)
  beside DATA_DIR/backups/slate-<UTC time>.db, checks it, renames it to that name only if it
  passed, and then keeps the newest BACKUP_KEEP (a copy that failed is never one of them).
- `restore` puts a backup in place of the database while the bot is stopped, after checking
  that it is a Slate database this code can read; the old database is kept beside it.
- `collect_garbage` finds media files (MEDIA_DIR/<sha[:2]>/<sha256>) that no row uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage import copies, cuts, operations
from storage.db import Database, migrations
from storage.rows import Conn
from studio.app import Studio
from studio.errors import SlateError
from studio.ops.settings import Settings

log = logging.getLogger(__name__)

BACKUP_NAME = re.compile(r"^slate-\d{8}T\d{9}Z\.db$")
_MEDIA_NAME = re.compile(r"^[0-9a-f]{64}$")


class BackupError(SlateError):
    """A backup or restore that cannot go ahead; the reason says why and what to do."""


def _stamp(at: datetime) -> str:
    # Milliseconds keep two backups in the same second apart; the name sorts as time does.
    return at.strftime("%Y%m%dT%H%M%S") + f"{at.microsecond // 1000:03d}Z"


def backups(settings: Settings) -> list[Path]:
    """The backups in DATA_DIR/backups, oldest first."""
    folder = settings.backups_path
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if BACKUP_NAME.match(p.name))


def check_copy(path: Path) -> int:
    """Check a database file is a sound Slate database; return its schema version."""
    try:
        facts = copies.inspect(path)
    except copies.NotADatabase as exc:
        raise BackupError(str(exc)) from None
    if facts.integrity != "ok":
        raise BackupError(f"{path} is damaged: {facts.integrity}")
    if not {"schema_version", "production"} <= facts.tables or facts.schema_version is None:
        raise BackupError(f"{path} is not a Slate database")
    version = facts.schema_version
    newest = migrations()[-1][0]
    if version > newest:
        raise BackupError(f"{path} is at schema version {version}, newer than this Slate knows "
                          f"({newest}): restore it with a newer Slate")
    return version


def prune(settings: Settings, keep: int | None = None) -> list[Path]:
    """Delete all but the newest `keep` backups; returns the ones deleted."""
    keep = settings.backup_keep if keep is None else keep
    existing = backups(settings)
    doomed = existing[:-keep] if keep > 0 else existing
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


async def backup_to(db: Database, target: Path) -> Path:
    """Write an online copy of the database to `target`, checked before it takes that name:
    a copy that fails the check leaves no file behind and raises BackupError saying why."""
    return await db.backup(target, check=_seal)


def _seal(path: Path) -> None:
    try:
        copies.make_self_contained(path)
        check_copy(path)
    except (BackupError, copies.DatabaseError) as exc:
        reason = (exc.reason if isinstance(exc, BackupError) else str(exc)).replace("\n", "; ")
        raise BackupError(f"no backup was kept: the copy failed its check ({reason}); the "
                          "database itself may be damaged, so keep the backups you have") from None


async def backup_now(studio: Studio) -> Path:
    """Write DATA_DIR/backups/slate-<UTC time>.db and keep only the newest BACKUP_KEEP."""
    target = studio.settings.backups_path / f"slate-{_stamp(datetime.now(UTC))}.db"
    written = await backup_to(studio.db, target)
    pruned = prune(studio.settings)
    log.info("backup written to %s (%d old removed)", written, len(pruned))
    return written


def next_nightly(settings: Settings, after: datetime) -> datetime:
    """When the next nightly backup is due, after `after` (aware), at BACKUP_TIME in TIMEZONE."""
    local = after.astimezone(settings.zone)
    due = local.replace(hour=settings.backup_time.hour, minute=settings.backup_time.minute,
                        second=0, microsecond=0)
    if due <= local:
        due = (local + timedelta(days=1)).replace(hour=settings.backup_time.hour,
                                                  minute=settings.backup_time.minute)
    return due.astimezone(UTC)


async def run_nightly(studio: Studio) -> None:
    """Back up every night at BACKUP_TIME until cancelled (only when BACKUP_NIGHTLY is on)."""
    if not studio.settings.backup_nightly:
        return
    while True:
        due = next_nightly(studio.settings, datetime.now(UTC))
        await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
        try:
            await backup_now(studio)
        except Exception:
            log.exception("the nightly backup failed; the next one is tomorrow")


@dataclass(frozen=True)
class RestoreReport:
    database: Path
    version: int
    kept: Path | None


def restore(settings: Settings, source: Path, *, force: bool = False) -> RestoreReport:
    """Put the backup `source` in place of the database. The bot must be stopped.

    A database in use (or not closed cleanly) has a write-ahead log beside it; restore refuses
    then unless forced, since the running bot would keep writing to the file it has open.
    """
    version = check_copy(source)
    target = settings.database_path
    wal = target.with_name(target.name + "-wal")
    shm = target.with_name(target.name + "-shm")
    if wal.exists() and not force:
        raise BackupError(f"{target} is in use or was not closed cleanly ({wal.name} exists): "
                          "stop the bot first, or pass --force")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".restoring")
    partial.unlink(missing_ok=True)
    copies.copy_whole(source, partial)

    kept = None
    if target.exists():
        kept = target.with_name(target.name + ".before-restore")
        target.replace(kept)
        # SQLite finds a database's log by name: the kept copy keeps its own log beside it.
        if wal.exists():
            wal.replace(kept.with_name(kept.name + "-wal"))
    shm.unlink(missing_ok=True)
    partial.replace(target)
    return RestoreReport(target, version, kept)


@dataclass
class GcReport:
    files_scanned: int = 0
    unused_files: list[Path] = field(default_factory=list)
    unused_rows: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    deleted: bool = False
    young_skipped: int = 0

    def summary(self) -> str:
        verb = "removed" if self.deleted else "would remove"
        return (f"{self.files_scanned} media files scanned; {verb} {len(self.unused_files)} "
                f"unused files ({self.bytes_freed} bytes) and {len(self.unused_rows)} unused "
                f"media rows; {self.young_skipped} recent files left alone")


def _media_files(media: Path) -> list[tuple[str, Path]]:
    found = []
    if not media.is_dir():
        return found
    for folder in sorted(media.iterdir()):
        if not (folder.is_dir() and len(folder.name) == 2):
            continue
        for path in sorted(folder.iterdir()):
            # Only files named by the store's rule: a partial upload or a stranger is left alone.
            if path.is_file() and _MEDIA_NAME.match(path.name) and path.name[:2] == folder.name:
                found.append((path.name, path))
    return found


async def collect_garbage(studio: Studio, *, delete: bool = False,
                          min_age: float = 3600.0) -> GcReport:
    """Media files no row uses (and, with delete, media rows nothing uses).

    A dry run (the default) changes nothing. Files younger than `min_age` seconds are left
    alone: the store writes a file before the row that names it. With `delete`, the unused
    rows and files go inside one write transaction, so no take can claim them meanwhile.
    """
    report = GcReport(deleted=delete)
    cutoff = time.time() - min_age
    files = _media_files(studio.settings.media_path)
    report.files_scanned = len(files)

    row_cutoff = datetime.fromtimestamp(cutoff, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    async def plan(conn: Conn) -> tuple[set[str], set[str]]:
        used = await operations.used_media(conn)
        # A kept cut's hand-off links its takes and stems: they stay while it is kept.
        used |= await cuts.kept_media(conn, studio.settings.cut_keep)
        known = await operations.known_media(conn)
        # A row younger than min_age may be waiting for the take that will name it.
        unused_rows = {sha for sha, at in known.items() if sha not in used and at < row_cutoff}
        return unused_rows, used | (set(known) - unused_rows)

    if delete:
        async with studio.db.transaction() as tx:
            unused_rows, kept = await plan(tx)
            await operations.delete_media_rows(tx, unused_rows)
            _select_files(report, files, kept, cutoff)
            for path in report.unused_files:
                path.unlink(missing_ok=True)
    else:
        unused_rows, kept = await plan(studio.db.reader)
        _select_files(report, files, kept, cutoff)
    report.unused_rows = sorted(unused_rows)
    if delete:
        for folder in {p.parent for p in report.unused_files}:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty
        log.info("gc: %s", report.summary())
    return report


def _select_files(report: GcReport, files: list[tuple[str, Path]], kept: set[str],
                  cutoff: float) -> None:
    for sha, path in files:
        if sha in kept:
            continue
        stat = path.stat()
        if stat.st_mtime > cutoff:
            report.young_skipped += 1
            continue
        report.unused_files.append(path)
        report.bytes_freed += stat.st_size
