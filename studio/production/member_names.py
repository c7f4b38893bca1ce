"""The shell names members in words: a name is resolved to the member who already has it.

`--as Maya` and `assign 4 Maya` mean the Discord member whose display name or Discord username
is Maya, never a second, shell-only Maya (the board would show two Mayas as one). A name no
member has is refused with the names that come close, unless the shell asks explicitly for a
new shell-only member; a name several members share is refused with each of them.
"""

from __future__ import annotations

import difflib

from storage import members
from storage.db import Database
from storage.members import Member
from storage.productions import Production
from studio.errors import InvalidInput, NotFound

SHOWN = 8  # candidates named in a refusal


def described(member: Member) -> str:
    """How the shell tells members apart: 'Maya (Discord @maya)' or 'Maya (shell only)'."""
    if member.discord_id is None:
        return f"{member.name} (shell only)"
    return f"{member.name} (Discord @{member.discord_name or member.discord_id})"


def _matching(everyone: list[Member], name: str, same) -> list[Member]:
    return [m for m in everyone if same(m.name, name)
            or (m.discord_name is not None and same(m.discord_name, name))]


async def resolve(db: Database, prod: Production, name: str, *,
                  create: bool = False) -> Member:
    """The one member called `name` (exact spelling first, then ignoring case); with `create`,
    a new shell-only member when nobody is."""
    name = name.strip()
    if not name:
        raise InvalidInput("a member's name is empty")
    everyone = await members.of_production(db.reader, prod.id)
    for same in (str.__eq__, lambda a, b: a.casefold() == b.casefold()):
        found = _matching(everyone, name, same)
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            listed = "; ".join(described(m) for m in found[:SHOWN])
            raise InvalidInput(f"'{name}' could be {len(found)} members: {listed}; "
                               "give the Discord username")
    if create:
        async with db.transaction() as tx:
            return await members.ensure(tx, prod.id, name)
    raise NotFound(f"no member is called '{name}'{_candidates(everyone, name)}; "
                   "add --new-member to create a shell-only member by that name")


def _candidates(everyone: list[Member], name: str) -> str:
    names = {n for m in everyone for n in (m.name, m.discord_name) if n}
    close = difflib.get_close_matches(name.casefold(), {n.casefold() for n in names}, n=SHOWN,
                                      cutoff=0.5)
    shown = [m for m in everyone if any(n and n.casefold() in close
                                        for n in (m.name, m.discord_name))]
    if not shown:
        shown = everyone
    if not shown:
        return " (the production has no members yet)"
    more = f", and {len(shown) - SHOWN} more" if len(shown) > SHOWN else ""
    return f" (members: {', '.join(described(m) for m in shown[:SHOWN])}{more})"
