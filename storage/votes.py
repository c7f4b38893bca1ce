"""Votes: one per member per take, +1 for or -1 against, with the weight of the voter's role."""

from __future__ import annotations

from dataclasses import dataclass

from storage.rows import Conn, fetch_all, fetch_one, now


@dataclass(frozen=True)
class Vote:
    take_id: int
    member_id: int
    value: int
    weight: float
    cast_at: str = ""


@dataclass(frozen=True)
class Tally:
    """A take's counted votes: the creator's own are left out unless the production says so."""

    take_id: int
    votes_for: float
    votes_against: float
    voters: int

    @property
    def score(self) -> float:
        return self.votes_for - self.votes_against


async def get(conn: Conn, take_id: int, member_id: int) -> Vote | None:
    return await fetch_one(conn, Vote, "SELECT * FROM vote WHERE take_id = ? AND member_id = ?",
                           (take_id, member_id))


async def put(conn: Conn, take_id: int, member_id: int, value: int, weight: float) -> Vote | None:
    """Cast or switch a vote; returns the vote it replaced (None when new)."""
    before = await get(conn, take_id, member_id)
    if before is not None and before.value == value and before.weight == weight:
        return before
    await conn.execute(
        "INSERT INTO vote (take_id, member_id, value, weight, cast_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (take_id, member_id) DO UPDATE SET value = excluded.value,"
        " weight = excluded.weight, cast_at = excluded.cast_at",
        (take_id, member_id, value, weight, now()),
    )
    return before


async def delete(conn: Conn, take_id: int, member_id: int, value: int | None = None) -> bool:
    """Withdraw a vote; with `value`, only if the vote still has that value (a switch wins)."""
    if value is None:
        cursor = await conn.execute("DELETE FROM vote WHERE take_id = ? AND member_id = ?",
                                    (take_id, member_id))
    else:
        cursor = await conn.execute(
            "DELETE FROM vote WHERE take_id = ? AND member_id = ? AND value = ?",
            (take_id, member_id, value))
    return cursor.rowcount > 0


async def clear_take(conn: Conn, take_id: int) -> int:
    cursor = await conn.execute("DELETE FROM vote WHERE take_id = ?", (take_id,))
    return cursor.rowcount


async def of_take(conn: Conn, take_id: int) -> list[Vote]:
    return await fetch_all(conn, Vote, "SELECT * FROM vote WHERE take_id = ? ORDER BY member_id",
                           (take_id,))


def _marks(ids: list[int]) -> str:
    return ",".join("?" * len(ids))


async def tallies(conn: Conn, take_ids: list[int], *, creator_counts: bool) -> dict[int, Tally]:
    """Every listed take's tally (zero when nobody voted)."""
    if not take_ids:
        return {}
    cursor = await conn.execute(
        "SELECT t.id,"
        " COALESCE(SUM(CASE WHEN v.value = 1 THEN v.weight ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN v.value = -1 THEN v.weight ELSE 0 END), 0),"
        " COUNT(v.member_id)"
        " FROM take t LEFT JOIN vote v ON v.take_id = t.id"
        " AND (? OR t.creator_id IS NULL OR v.member_id != t.creator_id)"
        f" WHERE t.id IN ({_marks(take_ids)}) GROUP BY t.id",
        (int(creator_counts), *take_ids),
    )
    return {row[0]: Tally(row[0], float(row[1]), float(row[2]), int(row[3]))
            for row in await cursor.fetchall()}


async def distinct_voters(conn: Conn, take_ids: list[int], *, creator_counts: bool) -> int:
    """How many members cast a counted vote on any of these takes (for the quorum)."""
    if not take_ids:
        return 0
    return int((await (await conn.execute(
        "SELECT COUNT(DISTINCT v.member_id) FROM vote v JOIN take t ON t.id = v.take_id"
        f" WHERE t.id IN ({_marks(take_ids)})"
        " AND (? OR t.creator_id IS NULL OR v.member_id != t.creator_id)",
        (*take_ids, int(creator_counts)),
    )).fetchone())[0])


async def clear_value(conn: Conn, take_id: int, value: int) -> int:
    cursor = await conn.execute("DELETE FROM vote WHERE take_id = ? AND value = ?",
                                (take_id, value))
    return cursor.rowcount


async def by_discord_id(conn: Conn, take_id: int) -> dict[int, Vote]:
    """A take's votes by voters known to Discord, keyed by their Discord id."""
    cursor = await conn.execute(
        "SELECT v.*, m.discord_id FROM vote v JOIN member m ON m.id = v.member_id"
        " WHERE v.take_id = ? AND m.discord_id IS NOT NULL", (take_id,))
    return {row["discord_id"]: Vote(row["take_id"], row["member_id"], row["value"],
                                    row["weight"], row["cast_at"])
            for row in await cursor.fetchall()}


async def member_id_for(conn: Conn, production_id: int, discord_id: int) -> int | None:
    """The voter's member id, without creating one (a removal by a stranger changes nothing)."""
    cursor = await conn.execute(
        "SELECT id FROM member WHERE production_id = ? AND discord_id = ?",
        (production_id, discord_id))
    row = await cursor.fetchone()
    return None if row is None else int(row[0])


async def of_takes(conn: Conn, take_ids: list[int]) -> list[Vote]:
    if not take_ids:
        return []
    return await fetch_all(conn, Vote,
                           f"SELECT * FROM vote WHERE take_id IN ({_marks(take_ids)})",
                           tuple(take_ids))


async def current(conn: Conn, take_ids: list[int], member_ids: list[int] | None
                  ) -> dict[tuple[int, int], tuple[int, float]]:
    """(take, member) → (value, weight) for these takes, only these members unless None."""
    if not take_ids or member_ids == []:
        return {}
    sql = ("SELECT take_id, member_id, value, weight FROM vote"
           f" WHERE take_id IN ({_marks(take_ids)})")
    args: tuple = tuple(take_ids)
    if member_ids is not None:
        sql += f" AND member_id IN ({_marks(member_ids)})"
        args += tuple(member_ids)
    cursor = await conn.execute(sql, args)
    return {(row[0], row[1]): (row[2], row[3]) for row in await cursor.fetchall()}


async def member_ids_for(conn: Conn, production_id: int, discord_ids: list[int]
                         ) -> dict[int, int]:
    """Discord id → member id for those already known (none is created)."""
    if not discord_ids:
        return {}
    cursor = await conn.execute(
        "SELECT discord_id, id FROM member WHERE production_id = ?"
        f" AND discord_id IN ({_marks(discord_ids)})", (production_id, *discord_ids))
    return {int(row[0]): int(row[1]) for row in await cursor.fetchall()}


async def write(conn: Conn, cast: list[tuple[int, int, int, float]],
                withdrawn: list[tuple[int, int]]) -> None:
    """Store many votes at once: cast (take, member, value, weight), withdrawn (take, member)."""
    stamp = now()
    if cast:
        await conn.executemany(
            "INSERT INTO vote (take_id, member_id, value, weight, cast_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (take_id, member_id) DO UPDATE SET value = excluded.value,"
            " weight = excluded.weight, cast_at = excluded.cast_at",
            [(t, m, v, w, stamp) for t, m, v, w in cast])
    if withdrawn:
        await conn.executemany("DELETE FROM vote WHERE take_id = ? AND member_id = ?", withdrawn)
