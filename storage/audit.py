"""The audit log: one row per change (who, what, before, after, when), never updated."""

from __future__ import annotations

import json
from dataclasses import dataclass

from storage import rows
from storage.rows import Conn, fetch_all, now


@dataclass(frozen=True)
class AuditEntry:
    id: int
    production_id: int
    actor_id: int | None
    entity: str
    entity_id: int | None
    action: str
    before: str | None
    after: str | None
    at: str


def _encode(value: object) -> str | None:
    # Masked after encoding: a secret inside any value (a refusal's text) never lands here.
    return None if value is None else rows.scrub(json.dumps(value, sort_keys=True, default=str))


async def record(
    conn: Conn, production_id: int, actor_id: int | None, entity: str, entity_id: int | None,
    action: str, before: object = None, after: object = None,
) -> None:
    await conn.execute(
        "INSERT INTO audit (production_id, actor_id, entity, entity_id, action, before, after, at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (production_id, actor_id, entity, entity_id, action, _encode(before), _encode(after),
         now()),
    )


async def record_many(conn: Conn, rows: list[tuple]) -> None:
    """Rows of (production_id, actor_id, entity, entity_id, action, before, after)."""
    stamp = now()
    await conn.executemany(
        "INSERT INTO audit (production_id, actor_id, entity, entity_id, action, before, after, at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(p, a, e, i, act, _encode(b), _encode(af), stamp) for p, a, e, i, act, b, af in rows],
    )


async def for_entity(conn: Conn, entity: str, entity_id: int) -> list[AuditEntry]:
    return await fetch_all(
        conn, AuditEntry, "SELECT * FROM audit WHERE entity = ? AND entity_id = ? ORDER BY id",
        (entity, entity_id),
    )


async def recent(conn: Conn, production_id: int, limit: int = 50) -> list[AuditEntry]:
    return await fetch_all(
        conn, AuditEntry, "SELECT * FROM audit WHERE production_id = ? ORDER BY id DESC LIMIT ?",
        (production_id, limit),
    )
