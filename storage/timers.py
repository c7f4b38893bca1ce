"""Durable timers: an event to fire at a time, with a JSON payload; deleted once handled."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from storage.rows import Conn, fetch_all, fetch_one, now


@dataclass(frozen=True)
class Timer:
    id: int
    event: str
    payload: str
    expires_at: str
    created_at: str = ""
    data: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", json.loads(self.payload or "{}"))


async def create(conn: Conn, event: str, payload: dict, expires_at: str) -> Timer:
    cursor = await conn.execute(
        "INSERT INTO timer (event, payload, expires_at, created_at) VALUES (?, ?, ?, ?)",
        (event, json.dumps(payload, sort_keys=True), expires_at, now()))
    made = await get(conn, int(cursor.lastrowid))
    assert made is not None
    return made


async def get(conn: Conn, timer_id: int) -> Timer | None:
    return await fetch_one(conn, Timer, "SELECT * FROM timer WHERE id = ?", (timer_id,))


async def next_due(conn: Conn) -> Timer | None:
    """The timer that expires first."""
    return await fetch_one(conn, Timer,
                           "SELECT * FROM timer ORDER BY expires_at, id LIMIT 1")


async def due(conn: Conn, at: str) -> list[Timer]:
    return await fetch_all(conn, Timer,
                           "SELECT * FROM timer WHERE expires_at <= ? ORDER BY expires_at, id",
                           (at,))


async def find(conn: Conn, event: str, payload: dict) -> list[Timer]:
    return await fetch_all(conn, Timer,
                           "SELECT * FROM timer WHERE event = ? AND payload = ? ORDER BY id",
                           (event, json.dumps(payload, sort_keys=True)))


async def delete(conn: Conn, timer_id: int) -> bool:
    cursor = await conn.execute("DELETE FROM timer WHERE id = ?", (timer_id,))
    return cursor.rowcount > 0


async def set_expiry(conn: Conn, timer_id: int, expires_at: str) -> None:
    await conn.execute("UPDATE timer SET expires_at = ? WHERE id = ?", (expires_at, timer_id))
