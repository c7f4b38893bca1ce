"""Members: the people of a production, known by Discord id or by a shell name."""

from __future__ import annotations

from dataclasses import dataclass

from storage.rows import Conn, fetch_all, fetch_one, now


@dataclass(frozen=True)
class Member:
    id: int
    production_id: int
    discord_id: int | None
    name: str
    created_at: str = ""
    discord_name: str | None = None  # the Discord username; `name` is the display name

    @property
    def mention(self) -> str:
        return f"<@{self.discord_id}>" if self.discord_id else self.name


async def get(conn: Conn, member_id: int) -> Member | None:
    return await fetch_one(conn, Member, "SELECT * FROM member WHERE id = ?", (member_id,))


async def many(conn: Conn, member_ids: list[int]) -> dict[int, Member]:
    if not member_ids:
        return {}
    marks = ",".join("?" * len(member_ids))
    found = await fetch_all(conn, Member, f"SELECT * FROM member WHERE id IN ({marks})",
                            tuple(member_ids))
    return {m.id: m for m in found}


async def ensure(
    conn: Conn, production_id: int, name: str, discord_id: int | None = None,
    discord_name: str | None = None,
) -> Member:
    """The member for this Discord id (or shell name), created on first sight; names follow."""
    if discord_id is not None:
        found = await fetch_one(
            conn, Member, "SELECT * FROM member WHERE production_id = ? AND discord_id = ?",
            (production_id, discord_id),
        )
    else:
        found = await fetch_one(
            conn, Member,
            "SELECT * FROM member WHERE production_id = ? AND discord_id IS NULL AND name = ?",
            (production_id, name),
        )
    if found is not None:
        known = discord_name or found.discord_name
        if found.name != name or found.discord_name != known:
            await conn.execute("UPDATE member SET name = ?, discord_name = ? WHERE id = ?",
                               (name, known, found.id))
            found = Member(found.id, found.production_id, found.discord_id, name,
                           found.created_at, known)
        return found
    cursor = await conn.execute(
        "INSERT INTO member (production_id, discord_id, name, created_at, discord_name) "
        "VALUES (?, ?, ?, ?, ?)",
        (production_id, discord_id, name, now(), discord_name),
    )
    return Member(cursor.lastrowid, production_id, discord_id, name, discord_name=discord_name)


async def of_production(conn: Conn, production_id: int) -> list[Member]:
    return await fetch_all(conn, Member, "SELECT * FROM member WHERE production_id = ? "
                           "ORDER BY id", (production_id,))


async def by_discord_id(conn: Conn, production_id: int, discord_id: int) -> Member | None:
    return await fetch_one(
        conn, Member, "SELECT * FROM member WHERE production_id = ? AND discord_id = ?",
        (production_id, discord_id),
    )
