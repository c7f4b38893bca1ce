"""Takes: immutable attempts at a shot, numbered by revision, with their provenance."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from storage.rows import Conn, fetch_all, fetch_in, fetch_one, now, scalar


@dataclass(frozen=True)
class Take:
    id: int
    shot_id: int
    revision: int
    source: str
    media_sha256: str
    preview_sha256: str | None
    thumbnail_sha256: str | None
    kind: str
    provider: str
    model: str
    prompt: str
    negative_prompt: str
    seed: int | None
    params: str
    external_id: str
    cost: float
    creator_id: int | None
    job_id: int | None
    status: str
    created_at: str = ""
    source_url: str = ""  # the tool's own page for the job (an uploaded take's provenance)
    based_on: int | None = None  # the take this one was made from (upscale, animation)


@dataclass(frozen=True)
class Provenance:
    """Where a take came from: the tool, its settings, and what it cost."""

    provider: str = ""
    model: str = ""
    prompt: str = ""
    negative_prompt: str = ""
    seed: int | None = None
    params: dict = field(default_factory=dict)
    external_id: str = ""
    cost: float = 0.0
    job_id: int | None = None
    source_url: str = ""
    based_on: int | None = None


@dataclass(frozen=True)
class UploadSpend:
    """What creators declared their own tools cost, per member and tool."""

    member_id: int | None
    member_name: str
    tool: str
    takes: int
    cost: float


async def get(conn: Conn, take_id: int) -> Take | None:
    return await fetch_one(conn, Take, "SELECT * FROM take WHERE id = ?", (take_id,))


async def many(conn: Conn, take_ids: list[int]) -> dict[int, Take]:
    return {t.id: t for t in await fetch_in(conn, Take, "SELECT * FROM take WHERE id IN",
                                            take_ids)}


async def of_shot(conn: Conn, shot_id: int) -> list[Take]:
    return await fetch_all(conn, Take, "SELECT * FROM take WHERE shot_id = ? ORDER BY revision",
                           (shot_id,))


async def create(
    conn: Conn, shot_id: int, *, source: str, media_sha256: str, kind: str,
    creator_id: int | None, provenance: Provenance, preview_sha256: str | None = None,
    thumbnail_sha256: str | None = None,
) -> Take:
    """A new take, numbered after the shot's last revision (inside the caller's transaction)."""
    revision = int(await scalar(conn, "SELECT COALESCE(MAX(revision), 0) + 1 FROM take"
                                      " WHERE shot_id = ?", (shot_id,)))
    p = provenance
    cursor = await conn.execute(
        "INSERT INTO take (shot_id, revision, source, media_sha256, preview_sha256,"
        " thumbnail_sha256, kind, provider, model, prompt, negative_prompt, seed, params,"
        " external_id, cost, creator_id, job_id, created_at, source_url, based_on)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (shot_id, revision, source, media_sha256, preview_sha256, thumbnail_sha256, kind,
         p.provider, p.model, p.prompt, p.negative_prompt, p.seed,
         json.dumps(p.params, sort_keys=True), p.external_id, p.cost, creator_id, p.job_id,
         now(), p.source_url, p.based_on),
    )
    made = await get(conn, int(cursor.lastrowid))
    assert made is not None
    return made


async def set_status(conn: Conn, take_id: int, status: str) -> None:
    await conn.execute("UPDATE take SET status = ? WHERE id = ?", (status, take_id))


async def set_previews(
    conn: Conn, take_id: int, preview_sha256: str | None, thumbnail_sha256: str | None
) -> None:
    await conn.execute(
        "UPDATE take SET preview_sha256 = ?, thumbnail_sha256 = ? WHERE id = ?",
        (preview_sha256, thumbnail_sha256, take_id),
    )


async def production_uses_media(conn: Conn, production_id: int, sha256: str) -> bool:
    """Whether a take of the production is, or is previewed by, this stored file (the web face
    serves a media file only to the production it belongs to)."""
    found = await scalar(
        conn, "SELECT EXISTS (SELECT 1 FROM take t JOIN shot s ON s.id = t.shot_id"
              " JOIN chapter c ON c.id = s.chapter_id WHERE c.production_id = ?"
              " AND ? IN (t.media_sha256, t.preview_sha256, t.thumbnail_sha256))",
        (production_id, sha256))
    return bool(found)


async def uploaded_spend(conn: Conn, production_id: int) -> list[UploadSpend]:
    """Declared costs of uploaded takes (creators' own tools), by member and tool."""
    return await fetch_all(
        conn, UploadSpend,
        "SELECT take.creator_id AS member_id, COALESCE(member.name, '?') AS member_name,"
        " CASE WHEN take.provider = '' THEN 'unnamed tool' ELSE take.provider END AS tool,"
        " COUNT(*) AS takes, SUM(take.cost) AS cost"
        " FROM take JOIN shot ON shot.id = take.shot_id"
        " JOIN chapter ON chapter.id = shot.chapter_id"
        " LEFT JOIN member ON member.id = take.creator_id"
        " WHERE chapter.production_id = ? AND take.source = 'uploaded' AND take.cost > 0"
        " GROUP BY take.creator_id, tool ORDER BY cost DESC, member_name",
        (production_id,))


async def delete(conn: Conn, take_id: int) -> None:
    """Remove a take nothing refers to yet (an upload withdrawn before it was shown)."""
    await conn.execute("DELETE FROM take WHERE id = ?", (take_id,))
