"""Small helpers every repository shares: timestamps and row → dataclass mapping."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiosqlite

T = TypeVar("T")

Conn = aiosqlite.Connection


def _unchanged(text: str) -> str:
    return text


# Text stored for people to read (audit rows, job errors) passes through this: the studio
# installs its secret masking here (studio.ops.masking.remember), so storage never keeps a secret.
scrub: Callable[[str], str] = _unchanged


def now() -> str:
    """The current UTC time as ISO-8601 text with milliseconds (sorts as time does)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def to(cls: type[T], row: aiosqlite.Row | None) -> T | None:
    if row is None:
        return None
    names = _field_names(cls)
    return cls(**{k: row[k] for k in row.keys() if k in names})


@functools.cache
def _field_names(cls: type) -> frozenset[str]:
    """A row type's fields, looked up once: a feature film's plan reads thousands of rows."""
    return frozenset(f.name for f in dataclasses.fields(cls))


def to_all(cls: type[T], rows: list[aiosqlite.Row] | Any) -> list[T]:
    rows = list(rows)
    if not rows:
        return []
    # One query's rows share their columns: which of them are fields is found once.
    wanted = [(n, k) for n, k in enumerate(rows[0].keys()) if k in _field_names(cls)]
    names = [k for _, k in wanted]
    if len(wanted) == len(rows[0]):
        return [cls(**dict(zip(names, row, strict=True))) for row in rows]
    return [cls(**{k: row[n] for n, k in wanted}) for row in rows]


# One trip to aiosqlite's thread per query (execute + fetch separately would be two).

async def fetch_one(conn: Conn, cls: type[T], sql: str, args: tuple = ()) -> T | None:
    rows = list(await conn.execute_fetchall(sql, args))
    return to(cls, rows[0] if rows else None)


async def fetch_all(conn: Conn, cls: type[T], sql: str, args: tuple = ()) -> list[T]:
    return to_all(cls, await conn.execute_fetchall(sql, args))


IN_CHUNK = 500  # values per `IN (...)`: well under SQLite's bound-parameter limit


async def fetch_in(conn: Conn, cls: type[T], sql: str, values: list) -> list[T]:
    """Rows for `sql`, which ends in `IN`, for each of `values` (a few queries, not one each)."""
    found: list[T] = []
    unique = list(dict.fromkeys(values))
    for at in range(0, len(unique), IN_CHUNK):
        part = unique[at:at + IN_CHUNK]
        found += await fetch_all(conn, cls, f"{sql} ({','.join('?' * len(part))})", tuple(part))
    return found


async def scalar(conn: Conn, sql: str, args: tuple = ()) -> Any:
    rows = list(await conn.execute_fetchall(sql, args))
    return rows[0][0] if rows else None


async def update_row(conn: Conn, table: str, row_id: int, values: dict[str, object],
                     editable: frozenset[str] | set[str], *, refusal: str = "not editable") -> None:
    """Set `values` on one row of `table`, stamping updated_at; only `editable` columns (the
    names are put into the SQL, so they come from this list, never from a caller)."""
    unknown = set(values) - set(editable)
    if unknown:
        raise ValueError(f"{refusal}: {sorted(unknown)}")
    if not values:
        return
    assignments = ", ".join(f"{name} = ?" for name in values)
    await conn.execute(f"UPDATE {table} SET {assignments}, updated_at = ? WHERE id = ?",
                       (*values.values(), now(), row_id))
