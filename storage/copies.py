"""A database file read on its own (a backup, or one about to be restored): what it holds.

Synchronous and read-only on purpose: the file is not the open database, and checking it must
not migrate, lock or change it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

SQLITE_HEADER = b"SQLite format 3\x00"


DatabaseError = sqlite3.Error  # what SQLite raises on a damaged or unreadable copy


class NotADatabase(Exception):
    """The file could not be read as SQLite; the message says why."""


@dataclass(frozen=True)
class CopyFacts:
    integrity: str  # PRAGMA quick_check's verdict: "ok" when sound
    tables: frozenset[str]
    schema_version: int | None  # None when there is no schema_version table


def inspect(path: Path) -> CopyFacts:
    """Open `path` read-only and say what it is; raise NotADatabase when it is no SQLite file."""
    try:
        with path.open("rb") as fh:
            header = fh.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise NotADatabase(f"cannot read {path}: {exc.strerror}") from None
    if header != SQLITE_HEADER:
        raise NotADatabase(f"{path} is not an SQLite database")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise NotADatabase(f"cannot open {path}: {exc}") from None
    try:
        integrity = conn.execute("PRAGMA quick_check").fetchone()[0]
        tables = frozenset(r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table'"))
        version = None
        if integrity == "ok" and "schema_version" in tables:
            version = int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version")
                          .fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise NotADatabase(f"{path} is not a readable database: {exc}") from None
    finally:
        conn.close()
    return CopyFacts(integrity, tables, version)


def make_self_contained(path: Path) -> None:
    """A copy inherits WAL mode; a backup should be one self-contained file."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
    finally:
        conn.close()


def copy_whole(source: Path, target: Path) -> None:
    """Copy `source` to `target` through SQLite, so a source with its own write-ahead log is
    read whole."""
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        dest = sqlite3.connect(target)
        try:
            src.backup(dest)
        finally:
            dest.close()
    finally:
        src.close()
