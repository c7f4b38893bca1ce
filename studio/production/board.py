"""The production and its board: set-up, the chapters as they stand, one chapter's detail.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage import audit, chapters, members, productions, shots
from storage.chapters import Chapter, ChapterProgress
from storage.db import Database
from storage.members import Member
from storage.productions import Production
from storage.rows import Conn
from storage.shots import Shot
from studio.errors import InvalidInput, NotFound
from studio.units import MAX_NUMBER

# The shell's production lives under guild 0.
SHELL_GUILD = 0



# --- the production -------------------------------------------------------------------------

async def setup(
    db: Database, guild_id: int, title: str, *, producer_role: str | None = None,
    max_chapters: int | None = None, default_role: str = "Producer", default_max: int = 2,
    actor_name: str = "setup", **channels: int | None,
) -> Production:
    """Create the production for a guild, or update it. A role or limit left as None keeps
    what the production has (or takes the default when it is new)."""
    title = title.strip()
    if not title or len(title) > 200:
        raise InvalidInput("a production title is 1 to 200 characters")
    if max_chapters is not None and not 1 <= max_chapters <= 100:
        raise InvalidInput("a creator may hold from 1 to 100 chapters")
    given = {k: v for k, v in channels.items() if v is not None}
    async with db.transaction() as tx:
        found = await productions.by_guild(tx, guild_id)
        if found is None:
            found = await productions.create(tx, guild_id, title, producer_role or default_role,
                                             max_chapters or default_max)
            await audit.record(tx, found.id, None, "production", found.id, "create",
                               after={"title": title, "by": actor_name})
            changes: dict[str, object] = given
        else:
            asked: dict[str, object] = {"title": title, **given}
            if producer_role is not None:
                asked["producer_role"] = producer_role
            if max_chapters is not None:
                asked["max_chapters_per_creator"] = max_chapters
            changes = {k: v for k, v in asked.items() if getattr(found, k) != v}
            if changes:
                await audit.record(tx, found.id, None, "production", found.id, "update",
                                   before={k: getattr(found, k) for k in changes},
                                   after={**changes, "by": actor_name})
        if changes:
            await productions.update(tx, found.id, **changes)
            found = await productions.get(tx, found.id)
    assert found is not None
    return found



async def get(db: Database, guild_id: int) -> Production:
    found = await productions.by_guild(db.reader, guild_id)
    if found is None:
        raise NotFound("there is no production here yet: a server manager runs /production setup")
    return found



async def board(db: Database, production: Production) -> list[ChapterProgress]:
    return await chapters.progress(db.reader, production.id)



# --- chapters -------------------------------------------------------------------------------

async def chapter(db: Database, production: Production, number: int) -> Chapter:
    return await chapter_in(db.reader, production, number)



async def chapter_in(conn: Conn, production: Production, number: int) -> Chapter:
    found = await chapters.by_number(conn, production.id, number) \
        if 0 < number <= MAX_NUMBER else None  # past SQLite's integers: no such chapter
    if found is None:
        raise NotFound(f"there is no chapter {str(number)[:20]}")
    return found



async def owner_name(conn: Conn, owner_id: int | None) -> str:
    if owner_id is None:
        return "nobody"
    owner = await members.get(conn, owner_id)
    return owner.name if owner else f"member {owner_id}"



def status_with_owner(status: str, owner_id: int | None) -> str:
    """A chapter nobody works on is open and one being worked on is wip; review, approval,
    retake and omission are decisions that outlive a change of hands."""
    if owner_id is None:
        return "open" if status == "wip" else status
    return "wip" if status == "open" else status



@dataclass(frozen=True)
class ChapterDetail:
    chapter: Chapter
    owner: Member | None
    shots: list[Shot]



async def chapter_detail(db: Database, production: Production, number: int) -> ChapterDetail:
    found = await chapter(db, production, number)
    owner = await members.get(db.reader, found.owner_id) if found.owner_id else None
    return ChapterDetail(found, owner, await shots.of_chapter(db.reader, found.id))
