"""Jobs: generation requests and their life, from queued to a finished take."""

from __future__ import annotations

import json
from dataclasses import dataclass

from storage import rows
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
    claimed_by: str | None = None
    lease_until: str | None = None
    unanswered_since: str | None = None

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
    uploaded: int = 0  # takes uploaded with a declared cost (provider: the creator's tool)


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
    """Each member's oldest ready, unleased queued job per provider: the fair pick's choice."""
    if not providers:
        return []
    marks = ",".join("?" * len(providers))
    skip = ",".join(str(int(i)) for i in exclude) or "0"
    stamp = now()
    return await fetch_all(
        conn, Job,
        "SELECT * FROM job WHERE id IN (SELECT MIN(id) FROM job WHERE state = 'queued'"
        f" AND provider IN ({marks}) AND id NOT IN ({skip})"
        " AND (not_before IS NULL OR not_before <= ?)"
        " AND (lease_until IS NULL OR lease_until < ?) GROUP BY provider, member_id) ORDER BY id",
        (*providers, stamp, stamp))


async def unleased_active(conn: Conn, providers: list[str], exclude: set[int]) -> list[Job]:
    """Submitted jobs nobody drives: released at a stop, or their process's lease ran out."""
    if not providers:
        return []
    marks = ",".join("?" * len(providers))
    skip = ",".join(str(int(i)) for i in exclude) or "0"
    return await fetch_all(
        conn, Job,
        "SELECT * FROM job WHERE state IN ('submitted', 'running')"
        f" AND provider IN ({marks}) AND id NOT IN ({skip})"
        " AND (lease_until IS NULL OR lease_until < ?) ORDER BY id", (*providers, now()))


async def claim(conn: Conn, job_id: int, token: str, until: str) -> bool:
    """Take the job's lease if it is open and nobody else holds a live one (run it in a
    write transaction: the UPDATE is the one atomic test-and-set across processes)."""
    cursor = await conn.execute(
        "UPDATE job SET claimed_by = ?, lease_until = ? WHERE id = ?"
        " AND state IN ('queued', 'submitted', 'running')"
        " AND (claimed_by IS NULL OR claimed_by = ? OR lease_until IS NULL OR lease_until < ?)",
        (token, until, job_id, token, now()))
    return cursor.rowcount == 1


async def renew(conn: Conn, job_id: int, token: str, until: str) -> bool:
    """Extend our lease; False when the job closed or another process took it over."""
    cursor = await conn.execute(
        "UPDATE job SET lease_until = ? WHERE id = ? AND claimed_by = ?"
        " AND state IN ('queued', 'submitted', 'running')", (until, job_id, token))
    return cursor.rowcount == 1


async def release(conn: Conn, token: str, job_id: int | None = None) -> None:
    """Give up our leases (one job, or all at a stop) so the next process starts at once."""
    sql = "UPDATE job SET claimed_by = NULL, lease_until = NULL WHERE claimed_by = ?"
    args: tuple = (token,)
    if job_id is not None:
        sql += " AND id = ?"
        args = (token, job_id)
    await conn.execute(sql, args)


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
    """Money spent or committed: every closed job's billed cost (a failed or cancelled job
    the provider billed counts; one never submitted costs 0) plus open jobs' estimates."""
    return float(await scalar(conn, "SELECT COALESCE(SUM(cost), 0) FROM job"
                                    " WHERE production_id = ?", (production_id,)))


async def spend_by(conn: Conn, production_id: int) -> list[Spend]:
    return await fetch_all(
        conn, Spend,
        "SELECT job.member_id AS member_id, COALESCE(member.name, '?') AS member_name,"
        " job.provider AS provider, COUNT(*) AS jobs, COALESCE(SUM(job.cost), 0) AS cost"
        " FROM job LEFT JOIN member ON member.id = job.member_id"
        " WHERE job.production_id = ? AND (job.cost > 0 OR job.state NOT IN"
        " ('failed', 'cancelled')) AND job.kind != 'upload'"  # fetching a link is free
        " GROUP BY job.member_id, job.provider"
        " ORDER BY cost DESC, member_name",
        (production_id,))


async def mark_submitted(conn: Conn, job_id: int, external_id: str) -> bool:
    """Store the provider's id; False when the job was cancelled meanwhile."""
    stamp = now()
    cursor = await conn.execute(
        "UPDATE job SET state = 'submitted', external_id = ?, attempts = attempts + 1,"
        " submitted_at = ?, updated_at = ?, not_before = NULL WHERE id = ? AND state = 'queued'",
        (external_id, stamp, stamp, job_id))
    return cursor.rowcount == 1


async def mark_billed_after_cancel(conn: Conn, job_id: int, external_id: str,
                                   cost: float) -> None:
    """A cancel that raced the submission: the provider took the job, so it may bill it."""
    await conn.execute(
        "UPDATE job SET external_id = ?, cost = ?, cost_estimated = 1, updated_at = ?"
        " WHERE id = ? AND state = 'cancelled' AND external_id IS NULL",
        (external_id, cost, now(), job_id))


async def mark_progress(conn: Conn, job_id: int, state: str, progress: float) -> None:
    await conn.execute(
        "UPDATE job SET state = ?, progress = ?, updated_at = ? WHERE id = ?"
        " AND state IN ('submitted', 'running')", (state, progress, now(), job_id))


async def mark_retry(conn: Conn, job_id: int, not_before: str, error: str) -> None:
    """Back in the queue after a transient refusal; the lease goes, any process may retry."""
    await conn.execute(
        "UPDATE job SET attempts = attempts + 1, not_before = ?, error = ?, updated_at = ?,"
        " claimed_by = NULL, lease_until = NULL WHERE id = ? AND state = 'queued'",
        (not_before, rows.scrub(error), now(), job_id))


async def mark_error(conn: Conn, job_id: int, error: str) -> str:
    """A transient poll failure; returns since when the provider has not answered."""
    stamp = now()
    await conn.execute("UPDATE job SET error = ?, updated_at = ?,"
                       " unanswered_since = COALESCE(unanswered_since, ?) WHERE id = ?"
                       " AND state IN ('submitted', 'running')",
                       (rows.scrub(error), stamp, stamp, job_id))
    since = await scalar(conn, "SELECT unanswered_since FROM job WHERE id = ?", (job_id,))
    return str(since or stamp)


async def mark_answered(conn: Conn, job_id: int) -> None:
    """The provider answers again: the outage clock stops."""
    await conn.execute("UPDATE job SET unanswered_since = NULL, error = '' WHERE id = ?",
                       (job_id,))


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
        " claimed_by = NULL, lease_until = NULL, unanswered_since = NULL,"
        " finished_at = ?, updated_at = ? WHERE id = ? AND state IN"
        " ('queued', 'submitted', 'running')",
        (state, rows.scrub(error), cost, cost, take_id,  # masked: a job's error is shown
         json.dumps(outputs) if outputs is not None else None, state, stamp, stamp, job_id))
    return cursor.rowcount == 1
