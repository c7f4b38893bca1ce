"""Jobs: generation requests and their life, from queued to a finished take."""

from __future__ import annotations

import json
from dataclasses import dataclass

from storage.rows import Conn, fetch_all, fetch_one, now, scalar

ACTIVE = ("submitted", "running")
OPEN = ("queued", "submitted", "running")
DONE = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class Job:
    id: int
    production_id: int
    member_id: int | None
    shot_id: int | None
    kind: str
    provider: str
    params: str
    state: str
    external_id: str | None
    attempts: int
    progress: float
    error: str
    cost: float
    take_id: int | None
    not_before: str | None
    created_at: str
    updated_at: str
    outputs: str = "[]"
    cost_estimated: int = 1
    submitted_at: str | None = None
    finished_at: str | None = None

    @property
    def parameters(self) -> dict:
        return json.loads(self.params)

    @property
    def done(self) -> bool:
        return self.state in DONE


@dataclass(frozen=True)
class Spend:
    member_id: int | None
    member_name: str
    provider: str
    jobs: int
    cost: float


async def get(conn: Conn, job_id: int) -> Job | None:
    return await fetch_one(conn, Job, "SELECT * FROM job WHERE id = ?", (job_id,))


async def create(conn: Conn, production_id: int, *, member_id: int | None, shot_id: int | None,
                 kind: str, provider: str, params: dict, cost: float) -> Job:
    stamp = now()
    cursor = await conn.execute(
        "INSERT INTO job (production_id, member_id, shot_id, kind, provider, params, cost,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (production_id, member_id, shot_id, kind, provider, json.dumps(params, sort_keys=True),
         cost, stamp, stamp))
    made = await get(conn, int(cursor.lastrowid))
    assert made is not None
    return made


async def listed(conn: Conn, production_id: int, *, member_id: int | None = None,
                 states: tuple[str, ...] = (), limit: int = 25) -> list[Job]:
    sql = "SELECT * FROM job WHERE production_id = ?"
    args: list = [production_id]
    if member_id is not None:
        sql += " AND member_id = ?"
        args.append(member_id)
    if states:
        sql += f" AND state IN ({','.join('?' * len(states))})"
        args.extend(states)
    sql += " ORDER BY id DESC LIMIT ?"
    args.append(limit)
    return await fetch_all(conn, Job, sql, tuple(args))


async def active(conn: Conn) -> list[Job]:
    return await fetch_all(conn, Job, "SELECT * FROM job WHERE state IN ('submitted', 'running')"
                                      " ORDER BY id")


async def next_per_member(conn: Conn, providers: list[str], exclude: set[int]) -> list[Job]:
    """Each member's oldest ready queued job per provider: the candidates for a fair pick."""
    if not providers:
        return []
    marks = ",".join("?" * len(providers))
    skip = ",".join(str(int(i)) for i in exclude) or "0"
    return await fetch_all(
        conn, Job,
        "SELECT * FROM job WHERE id IN (SELECT MIN(id) FROM job WHERE state = 'queued'"
        f" AND provider IN ({marks}) AND id NOT IN ({skip})"
        " AND (not_before IS NULL OR not_before <= ?) GROUP BY provider, member_id) ORDER BY id",
        (*providers, now()))


async def position(conn: Conn, job: Job) -> int:
    """How many queued jobs of the same provider are ahead of this one (0: next)."""
    return int(await scalar(conn, "SELECT COUNT(*) FROM job WHERE state = 'queued'"
                                  " AND provider = ? AND id < ?", (job.provider, job.id)))


async def open_of_member(conn: Conn, member_id: int) -> int:
    return int(await scalar(conn, "SELECT COUNT(*) FROM job WHERE member_id = ? AND state IN"
                                  " ('queued', 'submitted', 'running')", (member_id,)))


async def started_since(conn: Conn, member_id: int, since: str) -> int:
    return int(await scalar(conn, "SELECT COUNT(*) FROM job WHERE member_id = ?"
                                  " AND created_at >= ? AND state != 'cancelled'",
                            (member_id, since)))


async def spent(conn: Conn, production_id: int) -> float:
    """Money spent or committed: finished jobs' cost plus open jobs' estimates."""
    return float(await scalar(conn, "SELECT COALESCE(SUM(cost), 0) FROM job"
                                    " WHERE production_id = ? AND state NOT IN"
                                    " ('failed', 'cancelled')", (production_id,)))


async def spend_by(conn: Conn, production_id: int) -> list[Spend]:
    return await fetch_all(
        conn, Spend,
        "SELECT job.member_id AS member_id, COALESCE(member.name, '?') AS member_name,"
        " job.provider AS provider, COUNT(*) AS jobs, COALESCE(SUM(job.cost), 0) AS cost"
        " FROM job LEFT JOIN member ON member.id = job.member_id"
        " WHERE job.production_id = ? AND job.state NOT IN ('failed', 'cancelled')"
        " GROUP BY job.member_id, job.provider ORDER BY cost DESC, member_name",
        (production_id,))


async def mark_submitted(conn: Conn, job_id: int, external_id: str) -> bool:
    """Store the provider's id; False when the job was cancelled meanwhile."""
    stamp = now()
    cursor = await conn.execute(
        "UPDATE job SET state = 'submitted', external_id = ?, attempts = attempts + 1,"
        " submitted_at = ?, updated_at = ?, not_before = NULL WHERE id = ? AND state = 'queued'",
        (external_id, stamp, stamp, job_id))
    return cursor.rowcount == 1


async def mark_progress(conn: Conn, job_id: int, state: str, progress: float) -> None:
    await conn.execute(
        "UPDATE job SET state = ?, progress = ?, updated_at = ? WHERE id = ?"
        " AND state IN ('submitted', 'running')", (state, progress, now(), job_id))


async def mark_retry(conn: Conn, job_id: int, not_before: str, error: str) -> None:
    await conn.execute(
        "UPDATE job SET attempts = attempts + 1, not_before = ?, error = ?, updated_at = ?"
        " WHERE id = ? AND state = 'queued'", (not_before, error, now(), job_id))


async def mark_error(conn: Conn, job_id: int, error: str) -> None:
    await conn.execute("UPDATE job SET error = ?, updated_at = ? WHERE id = ?",
                       (error, now(), job_id))


async def finish(conn: Conn, job_id: int, state: str, *, error: str = "",
                 cost: float | None = None, take_id: int | None = None,
                 outputs: list[str] | None = None) -> bool:
    """Close an open job; False when it was already closed (a cancel won the race)."""
    stamp = now()
    cursor = await conn.execute(
        "UPDATE job SET state = ?, error = ?, cost = COALESCE(?, cost),"
        " cost_estimated = CASE WHEN ? IS NULL THEN cost_estimated ELSE 0 END,"
        " take_id = COALESCE(?, take_id), outputs = COALESCE(?, outputs),"
        " progress = CASE WHEN ? = 'succeeded' THEN 1 ELSE progress END,"
        " finished_at = ?, updated_at = ? WHERE id = ? AND state IN"
        " ('queued', 'submitted', 'running')",
        (state, error, cost, cost, take_id, json.dumps(outputs) if outputs is not None else None,
         state, stamp, stamp, job_id))
    return cursor.rowcount == 1
