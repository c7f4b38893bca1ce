"""Who is acting, and what they may do: producers steer, owners work their chapters."""

from __future__ import annotations

from dataclasses import dataclass

from storage import members
from storage.db import Database
from storage.members import Member
from storage.productions import Production
from studio.errors import NotPermitted


@dataclass(frozen=True)
class Actor:
    """A member acting now, with the roles the caller (Discord or the shell) vouched for."""

    member: Member
    is_producer: bool = False

    @property
    def id(self) -> int:
        return self.member.id

    @property
    def name(self) -> str:
        return self.member.name


async def actor(
    db: Database, production: Production, name: str, *, discord_id: int | None = None,
    is_producer: bool = False, discord_name: str | None = None,
) -> Actor:
    if discord_id is not None:
        # Most interactions come from someone already known: no write, no wait for the lock.
        known = await members.by_discord_id(db.reader, production.id, discord_id)
        if known is not None and known.name == name and \
                (discord_name is None or known.discord_name == discord_name):
            return Actor(known, is_producer)
    async with db.transaction() as tx:
        member = await members.ensure(tx, production.id, name, discord_id, discord_name)
    return Actor(member, is_producer)


async def member_named(
    db: Database, production: Production, name: str, discord_id: int | None = None,
    discord_name: str | None = None,
) -> Member:
    async with db.transaction() as tx:
        return await members.ensure(tx, production.id, name, discord_id, discord_name)


def require_producer(who: Actor, production: Production, doing: str) -> None:
    if not who.is_producer:
        raise NotPermitted(f"{doing} needs the {production.producer_role} role")
