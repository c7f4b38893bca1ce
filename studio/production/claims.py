"""Claims: who holds each chapter. Claims, releases, assignments and transfers.

Every change happens in one transaction with its audit row, so what a user is told has
already been committed, and a chapter has exactly one owner however many claims race for it.
"""

from __future__ import annotations

from storage import audit, chapters
from storage.chapters import Chapter
from storage.db import Database
from storage.members import Member
from storage.productions import Production
from storage.rows import Conn
from studio.errors import ClaimRefused, NotPermitted
from studio.production.board import chapter_in, owner_name, status_with_owner
from studio.production.people import Actor, require_producer


async def _hand_over(tx: Conn, production: Production, who: Actor, found: Chapter,
                     to_id: int | None, action: str, before_owner: str | None,
                     after_owner: str | None) -> Chapter:
    """Move a chapter to its new owner with its status, and write the audit row."""
    status = status_with_owner(found.status, to_id)
    if not await chapters.set_owner(tx, found.id, to_id, expected_owner=found.owner_id,
                                    status=status):
        raise ClaimRefused(f"chapter {found.number} was just claimed by someone else")
    before: dict[str, object] = {"owner": before_owner}
    after: dict[str, object] = {"owner": after_owner}
    if status != found.status:
        before["status"], after["status"] = found.status, status
    await audit.record(tx, production.id, who.id, "chapter", found.id, action,
                       before=before, after=after)
    moved = await chapters.get(tx, found.id)
    assert moved is not None
    return moved



def _numbers(held: list[Chapter]) -> str:
    return ", ".join(str(c.number) for c in held)



async def _check_limit(conn: Conn, production: Production, member: Member, *, who: str) -> None:
    held = await chapters.owned_by(conn, production.id, member.id)
    limit = production.max_chapters_per_creator
    if len(held) >= limit:
        plural = "chapter" if len(held) == 1 else "chapters"
        raise ClaimRefused(f"{who} already hold{'s' if who != 'you' else ''} {len(held)} "
                           f"{plural}: {_numbers(held)} (the limit is {limit})")



async def claim(db: Database, production: Production, who: Actor, number: int) -> Chapter:
    """Take an open chapter for yourself."""
    async with db.transaction() as tx:
        found = await chapter_in(tx, production, number)
        if found.owner_id == who.id:
            raise ClaimRefused(f"you already hold chapter {number}")
        if found.owner_id is not None:
            owner = await owner_name(tx, found.owner_id)
            raise ClaimRefused(f"chapter {number} is already claimed by {owner}")
        if found.status == "omitted":
            raise ClaimRefused(f"chapter {number} has been cut from the film")
        await _check_limit(tx, production, who.member, who="you")
        return await _hand_over(tx, production, who, found, who.id, "claim", None, who.name)



async def release(db: Database, production: Production, who: Actor, number: int) -> Chapter:
    """Give up a chapter you hold (producers may free anyone's: see `unassign`)."""
    async with db.transaction() as tx:
        found = await chapter_in(tx, production, number)
        if found.owner_id != who.id:
            if found.owner_id is None:
                raise ClaimRefused(f"chapter {number} is not claimed")
            owner = await owner_name(tx, found.owner_id)
            raise ClaimRefused(f"chapter {number} is held by {owner}, not you")
        return await _hand_over(tx, production, who, found, None, "release", who.name, None)



async def assign(
    db: Database, production: Production, who: Actor, number: int, to: Member,
    *, override_limit: bool = False,
) -> Chapter:
    """A producer gives a chapter to a member (replacing any owner)."""
    require_producer(who, production, "assigning a chapter")
    async with db.transaction() as tx:
        found = await chapter_in(tx, production, number)
        if found.owner_id == to.id:
            raise ClaimRefused(f"{to.name} already holds chapter {number}")
        if not override_limit:
            await _check_limit(tx, production, to, who=to.name)
        before = None if found.owner_id is None else await owner_name(tx, found.owner_id)
        return await _hand_over(tx, production, who, found, to.id, "assign", before, to.name)



async def unassign(db: Database, production: Production, who: Actor, number: int) -> Chapter:
    """A producer frees a chapter."""
    require_producer(who, production, "freeing a chapter")
    async with db.transaction() as tx:
        found = await chapter_in(tx, production, number)
        if found.owner_id is None:
            raise ClaimRefused(f"chapter {number} is not claimed")
        before = await owner_name(tx, found.owner_id)
        return await _hand_over(tx, production, who, found, None, "unassign", before, None)



async def transfer(
    db: Database, production: Production, who: Actor, number: int, to: Member
) -> Chapter:
    """The owner (or a producer) hands a chapter to another member, within their limit."""
    async with db.transaction() as tx:
        found = await chapter_in(tx, production, number)
        if found.owner_id != who.id and not who.is_producer:
            raise NotPermitted(f"only chapter {number}'s owner or a "
                               f"{production.producer_role} can hand it over")
        if found.owner_id == to.id:
            raise ClaimRefused(f"{to.name} already holds chapter {number}")
        await _check_limit(tx, production, to, who=to.name)
        before = await owner_name(tx, found.owner_id)
        return await _hand_over(tx, production, who, found, to.id, "transfer", before, to.name)
