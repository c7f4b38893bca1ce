"""Candidates: the message (channel, message id) carrying a take's votes; shots with candidates."""

from __future__ import annotations

from dataclasses import dataclass

from storage.rows import Conn, fetch_all, fetch_one, now


@dataclass(frozen=True)
class CandidateMessage:
    take_id: int
    window_id: int
    channel_id: int
    message_id: int
    posted_at: str = ""


@dataclass(frozen=True)
class VotingTarget:
    """A candidate message whose take is taking votes now."""

    take_id: int
    window_id: int
    production_id: int


async def voting_target(conn: Conn, message_id: int) -> VotingTarget | None:
    """The take a message votes on, if its window is open and the take still a candidate."""
    cursor = await conn.execute(
        "SELECT cm.take_id, cm.window_id, w.production_id FROM candidate_message cm"
        " JOIN vote_window w ON w.id = cm.window_id AND w.state = 'open'"
        " JOIN take t ON t.id = cm.take_id AND t.status = 'candidate'"
        " WHERE cm.message_id = ?", (message_id,))
    row = await cursor.fetchone()
    return None if row is None else VotingTarget(int(row[0]), int(row[1]), int(row[2]))


async def voting_targets(conn: Conn, message_ids: list[int]) -> dict[int, VotingTarget]:
    """`voting_target` for many messages at once (messages not taking votes are left out)."""
    if not message_ids:
        return {}
    marks = ",".join("?" * len(message_ids))
    cursor = await conn.execute(
        "SELECT cm.message_id, cm.take_id, cm.window_id, w.production_id"
        " FROM candidate_message cm"
        " JOIN vote_window w ON w.id = cm.window_id AND w.state = 'open'"
        " JOIN take t ON t.id = cm.take_id AND t.status = 'candidate'"
        f" WHERE cm.message_id IN ({marks})", tuple(message_ids))
    return {int(row[0]): VotingTarget(int(row[1]), int(row[2]), int(row[3]))
            for row in await cursor.fetchall()}


async def by_message(conn: Conn, message_id: int) -> CandidateMessage | None:
    return await fetch_one(conn, CandidateMessage,
                           "SELECT * FROM candidate_message WHERE message_id = ?", (message_id,))


async def of_take(conn: Conn, take_id: int) -> CandidateMessage | None:
    return await fetch_one(conn, CandidateMessage,
                           "SELECT * FROM candidate_message WHERE take_id = ?", (take_id,))


async def of_window(conn: Conn, window_id: int) -> list[CandidateMessage]:
    return await fetch_all(
        conn, CandidateMessage,
        "SELECT * FROM candidate_message WHERE window_id = ? ORDER BY take_id", (window_id,))


async def put(conn: Conn, take_id: int, window_id: int, channel_id: int, message_id: int) -> None:
    """Record (or move) a take's current candidate message."""
    await conn.execute(
        "INSERT INTO candidate_message (take_id, window_id, channel_id, message_id, posted_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (take_id) DO UPDATE SET"
        " window_id = excluded.window_id, channel_id = excluded.channel_id,"
        " message_id = excluded.message_id, posted_at = excluded.posted_at",
        (take_id, window_id, channel_id, message_id, now()))


async def delete_message(conn: Conn, message_id: int) -> CandidateMessage | None:
    found = await by_message(conn, message_id)
    if found is not None:
        await conn.execute("DELETE FROM candidate_message WHERE message_id = ?", (message_id,))
    return found


async def shots_with_candidates(conn: Conn, production_id: int) -> list[tuple[int, str, int]]:
    """(shot id, oldest candidate's time, candidate count) for shots not cut from the film."""
    cursor = await conn.execute(
        "SELECT s.id, MIN(t.created_at), COUNT(t.id) FROM shot s JOIN chapter c ON"
        " c.id = s.chapter_id JOIN take t ON t.shot_id = s.id AND t.status = 'candidate'"
        " WHERE c.production_id = ? AND s.status != 'omitted'"
        " GROUP BY s.id", (production_id,))
    return [(int(r[0]), str(r[1]), int(r[2])) for r in await cursor.fetchall()]
