"""Vote windows: a shot put to the vote, from opening to its outcome."""

from __future__ import annotations

from dataclasses import dataclass

from storage.rows import Conn, fetch_all, fetch_one, now

LIVE = ("open", "decision")


@dataclass(frozen=True)
class VoteWindow:
    id: int
    production_id: int
    shot_id: int
    opened_by: int | None
    opened_at: str
    deadline: str
    state: str
    outcome: str
    winner_take_id: int | None
    summary_channel_id: int | None
    summary_message_id: int | None
    closed_at: str | None
    shown_state: str = ""


async def get(conn: Conn, window_id: int) -> VoteWindow | None:
    return await fetch_one(conn, VoteWindow, "SELECT * FROM vote_window WHERE id = ?",
                           (window_id,))


async def live_of_shot(conn: Conn, shot_id: int) -> VoteWindow | None:
    """The shot's window that is open or waiting for a decision, if any."""
    return await fetch_one(
        conn, VoteWindow,
        "SELECT * FROM vote_window WHERE shot_id = ? AND state IN ('open', 'decision')",
        (shot_id,))


async def latest_of_shot(conn: Conn, shot_id: int) -> VoteWindow | None:
    return await fetch_one(conn, VoteWindow,
                           "SELECT * FROM vote_window WHERE shot_id = ? ORDER BY id DESC LIMIT 1",
                           (shot_id,))


async def in_state(conn: Conn, production_id: int | None, state: str) -> list[VoteWindow]:
    """Windows in one state, oldest first; every production's when production_id is None."""
    if production_id is None:
        return await fetch_all(conn, VoteWindow,
                               "SELECT * FROM vote_window WHERE state = ? ORDER BY opened_at, id",
                               (state,))
    return await fetch_all(
        conn, VoteWindow,
        "SELECT * FROM vote_window WHERE production_id = ? AND state = ? ORDER BY opened_at, id",
        (production_id, state))


async def create(conn: Conn, production_id: int, shot_id: int, opened_by: int | None,
                 deadline: str) -> VoteWindow:
    cursor = await conn.execute(
        "INSERT INTO vote_window (production_id, shot_id, opened_by, opened_at, deadline)"
        " VALUES (?, ?, ?, ?, ?)", (production_id, shot_id, opened_by, now(), deadline))
    made = await get(conn, int(cursor.lastrowid))
    assert made is not None
    return made


async def set_deadline(conn: Conn, window_id: int, deadline: str) -> None:
    await conn.execute("UPDATE vote_window SET deadline = ? WHERE id = ?", (deadline, window_id))


async def set_summary(conn: Conn, window_id: int, channel_id: int, message_id: int) -> None:
    await conn.execute(
        "UPDATE vote_window SET summary_channel_id = ?, summary_message_id = ? WHERE id = ?",
        (channel_id, message_id, window_id))


async def finish(conn: Conn, window_id: int, *, state: str, outcome: str,
                 winner_take_id: int | None) -> None:
    await conn.execute(
        "UPDATE vote_window SET state = ?, outcome = ?, winner_take_id = ?,"
        " closed_at = COALESCE(closed_at, ?) WHERE id = ?",
        (state, outcome, winner_take_id, now(), window_id))


async def reopen(conn: Conn, window_id: int, deadline: str) -> None:
    """Open again (a vote waiting for a decision, or a deadline moved): outcome cleared."""
    await conn.execute(
        "UPDATE vote_window SET state = 'open', outcome = '', winner_take_id = NULL,"
        " closed_at = NULL, deadline = ? WHERE id = ?", (deadline, window_id))


async def set_shown(conn: Conn, window_id: int, state: str) -> None:
    """Its messages now show `state` (written after they were edited)."""
    await conn.execute("UPDATE vote_window SET shown_state = ? WHERE id = ?", (state, window_id))


async def not_shown(conn: Conn) -> list[VoteWindow]:
    """Windows whose messages do not show their state yet (a close not shown before a stop)."""
    return await fetch_all(conn, VoteWindow,
                           "SELECT * FROM vote_window WHERE shown_state != state ORDER BY id")
