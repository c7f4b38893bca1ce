"""Approvals and retakes of shots: the history behind a shot's approved take and its status."""

from __future__ import annotations

from dataclasses import dataclass

from storage.rows import Conn, fetch_all, now


@dataclass(frozen=True)
class Approval:
    id: int
    shot_id: int
    take_id: int
    previous_take_id: int | None
    approved_by: int | None
    how: str
    window_id: int | None
    score: float | None
    at: str


@dataclass(frozen=True)
class Retake:
    id: int
    shot_id: int
    requested_by: int | None
    note: str
    at: str


async def record_approval(
    conn: Conn, shot_id: int, take_id: int, previous_take_id: int | None,
    approved_by: int | None, how: str, window_id: int | None, score: float | None,
) -> None:
    await conn.execute(
        "INSERT INTO approval (shot_id, take_id, previous_take_id, approved_by, how, window_id,"
        " score, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (shot_id, take_id, previous_take_id, approved_by, how, window_id, score, now()))


async def approvals_of_shot(conn: Conn, shot_id: int) -> list[Approval]:
    return await fetch_all(conn, Approval,
                           "SELECT * FROM approval WHERE shot_id = ? ORDER BY id", (shot_id,))


async def record_retake(conn: Conn, shot_id: int, requested_by: int | None, note: str) -> None:
    await conn.execute(
        "INSERT INTO retake (shot_id, requested_by, note, at) VALUES (?, ?, ?, ?)",
        (shot_id, requested_by, note, now()))


async def retakes_of_shot(conn: Conn, shot_id: int) -> list[Retake]:
    return await fetch_all(conn, Retake,
                           "SELECT * FROM retake WHERE shot_id = ? ORDER BY id", (shot_id,))
