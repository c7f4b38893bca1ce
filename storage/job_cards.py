"""Job cards: the message showing a job's progress and the post carrying its finished take."""

from __future__ import annotations

from dataclasses import dataclass

from storage.rows import Conn, fetch_all, fetch_one, now


@dataclass(frozen=True)
class JobCard:
    job_id: int
    channel_id: int | None
    message_id: int | None
    take_channel_id: int | None
    take_message_id: int | None
    settled: int
    created_at: str = ""


async def get(conn: Conn, job_id: int) -> JobCard | None:
    return await fetch_one(conn, JobCard, "SELECT * FROM job_card WHERE job_id = ?", (job_id,))


async def put_card(conn: Conn, job_id: int, channel_id: int | None,
                   message_id: int | None) -> None:
    """Record (or move) the card of a job."""
    await conn.execute(
        "INSERT INTO job_card (job_id, channel_id, message_id, created_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (job_id) DO UPDATE SET channel_id = excluded.channel_id,"
        " message_id = excluded.message_id", (job_id, channel_id, message_id, now()))


async def put_take_post(conn: Conn, job_id: int, channel_id: int, message_id: int) -> None:
    await conn.execute(
        "INSERT INTO job_card (job_id, take_channel_id, take_message_id, created_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET"
        " take_channel_id = excluded.take_channel_id,"
        " take_message_id = excluded.take_message_id", (job_id, channel_id, message_id, now()))


async def settle(conn: Conn, job_id: int) -> None:
    await conn.execute("UPDATE job_card SET settled = 1 WHERE job_id = ?", (job_id,))


async def unsettled(conn: Conn) -> list[JobCard]:
    """Cards whose final state (and take, for a success) may not be shown yet."""
    return await fetch_all(conn, JobCard,
                           "SELECT * FROM job_card WHERE settled = 0 ORDER BY job_id")
