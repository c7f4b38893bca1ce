"""The database: aiosqlite with WAL, foreign keys and a busy timeout; migrations; backups.

One writer connection, guarded by an asyncio lock, runs every transaction (`BEGIN IMMEDIATE`
so a transaction never upgrades mid-way); one reader connection serves plain reads, which
under WAL see only committed data and never wait for the writer. Every read on the reader runs
to its last row in one trip: a statement left open between trips would hold a snapshot that
every other read on the shared connection then sees, hiding commits made since.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

BUSY_TIMEOUT_MS = 5000
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class SchemaTooNew(Exception):
    """The database was written by a newer Slate than this one."""


def migrations() -> list[tuple[int, str, str]]:
    """The numbered migrations shipped with the code: (version, name, sql), in order."""
    found = []
    for entry in resources.files("storage.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a number: {sorted(versions)}")
    return found


async def _configure(conn: aiosqlite.Connection) -> None:
    conn.row_factory = aiosqlite.Row
    await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    await conn.execute("PRAGMA foreign_keys = ON")
    await conn.execute("PRAGMA synchronous = NORMAL")


class Rows:
    """A finished read, served like a cursor (fetchone, fetchall, async iteration)."""

    def __init__(self, rows: list[aiosqlite.Row]) -> None:
        self._rows = rows
        self._next = 0

    async def fetchone(self) -> aiosqlite.Row | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    async def fetchall(self) -> list[aiosqlite.Row]:
        rest, self._next = self._rows[self._next:], len(self._rows)
        return rest

    def __aiter__(self) -> Rows:
        return self

    async def __anext__(self) -> aiosqlite.Row:
        row = await self.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row


class Reader:
    """The shared read connection; `execute` reads every row at once (see the module's note)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, parameters: Iterable[Any] = ()) -> Rows:
        return Rows(list(await self._conn.execute_fetchall(sql, parameters)))

    async def execute_fetchall(self, sql: str, parameters: Iterable[Any] = ()
                               ) -> Iterable[aiosqlite.Row]:
        return await self._conn.execute_fetchall(sql, parameters)

    async def close(self) -> None:
        await self._conn.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class Database:
    """The production's store. Use `transaction()` for writes and `reader` for reads."""

    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection):
        self.path = path
        self._writer = writer
        self.reader: aiosqlite.Connection = Reader(reader)  # type: ignore[assignment]
        self._lock = asyncio.Lock()
        self.closed = False  # set once close() has run (tests fail one left open)

    @classmethod
    async def open(cls, path: Path | str, *, migrate: bool = True) -> Database:
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        writer = await aiosqlite.connect(path, isolation_level=None)
        try:
            await _configure(writer)
            await writer.execute("PRAGMA journal_mode = WAL")
            if migrate:
                await apply_migrations(writer)
            else:
                await check_schema(writer)
            reader = await aiosqlite.connect(path, isolation_level=None)
            await _configure(reader)
            await reader.execute("PRAGMA query_only = ON")
        except BaseException:
            await writer.close()
            raise
        return cls(path, writer, reader)

    async def close(self) -> None:
        async with self._lock:
            await self.reader.close()
            await self._writer.close()
            self.closed = True

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One atomic unit of work: committed on success, rolled back on any exception.

        BEGIN, COMMIT and ROLLBACK run to their end even when the caller is cancelled while
        awaiting them: aiosqlite's thread runs them anyway, and a BEGIN left behind a released
        lock would fail the next transaction ("cannot start a transaction within a transaction").
        """
        async with self._lock:
            if await _finish(self._writer.execute("BEGIN IMMEDIATE")):
                await _finish(self._writer.rollback())
                raise asyncio.CancelledError
            try:
                yield self._writer
            except BaseException:
                await _finish(self._writer.rollback())
                raise
            else:
                if await _finish(self._writer.commit()):
                    raise asyncio.CancelledError  # committed, and still told it was cancelled

    async def schema_version(self) -> int:
        return await current_version(self.reader)

    async def backup(self, target: Path | str,
                     check: Callable[[Path], object] | None = None) -> Path:
        """An online, consistent copy through SQLite's backup API (safe while the bot runs).

        The copy is written beside `target`, passed to `check` (run in a thread; it may
        change the copy, and raises to refuse it) and only then renamed into place, so a
        copy that fails its check never becomes a backup: it is deleted and the error raised.
        """
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.unlink(missing_ok=True)
        try:
            dest = await aiosqlite.connect(partial)
            try:
                # Under the lock, so the copy never sees a half-written transaction of ours.
                async with self._lock:
                    await self._writer.backup(dest)
            finally:
                await dest.close()
            if check is not None:
                await asyncio.to_thread(check, partial)
            partial.replace(target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return target


async def _finish(statement: Awaitable[object]) -> bool:
    """Await `statement` to its end even through cancellation; True if a cancel arrived.

    The statement's own error is raised as usual."""
    task = asyncio.ensure_future(statement)
    cancelled = False
    while True:
        try:
            await asyncio.shield(task)
            return cancelled
        except asyncio.CancelledError:
            if task.done():  # the statement itself was cancelled, not us
                raise
            cancelled = True


async def current_version(conn: aiosqlite.Connection) -> int:
    cursor = await conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name='schema_version'"
    )
    if await cursor.fetchone() is None:
        return 0
    cursor = await conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version")
    row = await cursor.fetchone()
    return int(row[0])


async def check_schema(conn: aiosqlite.Connection) -> int:
    known = migrations()
    newest = known[-1][0] if known else 0
    version = await current_version(conn)
    if version > newest:
        raise SchemaTooNew(
            f"the database is at schema version {version}, newer than this Slate knows "
            f"({newest}): upgrade Slate, or restore a backup made by this version"
        )
    return version


async def apply_migrations(
    conn: aiosqlite.Connection, available: list[tuple[int, str, str]] | None = None
) -> list[int]:
    """Apply every migration the database lacks, in order, each in its own transaction."""
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"
    )
    await check_schema(conn)
    cursor = await conn.execute("SELECT version FROM schema_version")
    done = {int(row[0]) for row in await cursor.fetchall()}
    applied = []
    # Each missing migration runs, not only newer ones: branches may land numbers out of order.
    for number, name, sql in migrations() if available is None else available:
        if number in done:
            continue
        # executescript would commit on its own; run statements inside one explicit transaction.
        await conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(sql):
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO schema_version (version, name) VALUES (?, ?)", (number, name)
            )
        except BaseException:
            await conn.rollback()
            raise
        await conn.commit()
        applied.append(number)
    return applied


def _statements(sql: str) -> list[str]:
    """Split a migration into statements, respecting quotes and trigger bodies."""
    statements, buffer = [], ""
    for line in sql.splitlines(keepends=True):
        if line.strip().startswith("--") and not buffer.strip():
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
