"""What a member may act on, for Discord's autocomplete: read-only and quick (one query each).

Autocomplete runs on every keystroke, so nothing here writes (no member is created): a person
is known by their Discord id, and one never seen before holds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage import members, shots
from storage.chapters import ChapterProgress
from storage.db import Database
from storage.productions import Production
from studio.production import board

MAX_CHOICES = 25


@dataclass(frozen=True)
class Choice:
    name: str
    value: str | int


def _member_id(rows: list[ChapterProgress], discord_id: int) -> int | None:
    for row in rows:
        if row.owner_discord_id == discord_id:
            return row.chapter.owner_id
    return None


def _matches(typed: str, *texts: str) -> bool:
    typed = typed.strip().lower()
    return not typed or any(typed in text.lower() for text in texts)


async def chapters_for(db: Database, prod: Production, discord_id: int, is_producer: bool,
                       action: str, typed: str = "") -> list[Choice]:
    """Chapters this member may `action` (claim, release, assign, unassign, edit, view)."""
    rows = await board.board(db, prod)
    mine = _member_id(rows, discord_id)
    held = sum(1 for row in rows if mine is not None and row.chapter.owner_id == mine)
    if action == "claim" and held >= prod.max_chapters_per_creator:
        return []  # at the limit nothing is claimable; the command itself says why
    picked = []
    for row in rows:
        c = row.chapter
        if action == "claim":
            ok = c.owner_id is None and c.status != "omitted"
        elif action == "release":
            ok = mine is not None and c.owner_id == mine
        elif action == "unassign":
            ok = is_producer and c.owner_id is not None
        elif action in ("assign", "due"):
            ok = is_producer
        elif action == "edit":
            ok = is_producer or (mine is not None and c.owner_id == mine)
        else:
            ok = True
        if ok and _matches(typed, str(c.number), c.title):
            owner = f" — {row.owner_name}" if row.owner_name else ""
            picked.append(Choice(f"{c.number}. {c.title}{owner}"[:100], c.number))
        if len(picked) == MAX_CHOICES:
            break
    return picked


async def shots_for(db: Database, prod: Production, discord_id: int, is_producer: bool,
                    action: str, typed: str = "") -> list[Choice]:
    """Shots this member may `action` ("edit": their chapters' shots; "view": all)."""
    refs = await shots.of_production(db.reader, prod.id)
    mine = await members.by_discord_id(db.reader, prod.id, discord_id)
    picked = []
    for ref in refs:
        if ref.shot.status == "omitted":
            continue
        if action == "edit" and not is_producer and (mine is None or ref.owner_id != mine.id):
            continue
        if _matches(typed, ref.code, ref.shot.description):
            picked.append(Choice(f"{ref.code} {ref.shot.description}"[:100], ref.code))
        if len(picked) == MAX_CHOICES:
            break
    return picked
