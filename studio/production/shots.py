"""Shots: their codes (3.4), one shot added or edited by hand (shot lists: shotlist.py).
"""

from __future__ import annotations

from storage import audit, shots
from storage.db import Database
from storage.productions import Production
from storage.shots import Shot, ShotRef
from studio.errors import InvalidInput, NotFound, NotPermitted
from studio.notion import mapping
from studio.production.board import chapter, chapter_in
from studio.production.people import Actor
from studio.production.schedule import (
    DECIDED_BY_REVIEW,
    kept_in_notion,
    refuse_notion_owned,
    require_owner_or_producer,
)
from studio.units import MAX_NUMBER

SHOT_STATUSES = ("todo", "wip", "needs_review", "approved", "retake", "omitted")



MAX_DURATION_S = 600.0



# --- shots ----------------------------------------------------------------------------------

def parse_code(code: str) -> tuple[int, int]:
    """'3.2' → (3, 2): chapter 3, shot 2."""
    parts = code.strip().split(".")
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() and len(p) < 20
                                  and 0 < int(p) <= MAX_NUMBER
                                  for p in parts):
        raise InvalidInput(f"'{code.strip()[:40]}' is not a shot: write chapter.shot, e.g. 3.2")
    return int(parts[0]), int(parts[1])



async def shot(db: Database, production: Production, code: str) -> ShotRef:
    chapter_number, number = parse_code(code)
    found = await shots.by_code(db.reader, production.id, chapter_number, number)
    if found is None:
        raise NotFound(f"there is no shot {chapter_number}.{number}")
    return found



async def shots_of(db: Database, production: Production, number: int) -> list[Shot]:
    found = await chapter(db, production, number)
    return await shots.of_chapter(db.reader, found.id)



def check_duration(seconds: float) -> float:
    if not 0 < seconds <= MAX_DURATION_S:
        raise InvalidInput(f"a shot lasts more than 0 and at most {MAX_DURATION_S:g} seconds")
    return float(seconds)



async def add_shot(
    db: Database, production: Production, who: Actor, chapter_number: int, *,
    description: str, duration: float, camera: str = "", characters: list[str] | None = None,
    notes: str = "", number: int | None = None,
) -> ShotRef:
    """Add a shot to a chapter (its owner or a producer); numbered after the last by default."""
    check_duration(duration)
    if not description.strip():
        raise InvalidInput("a shot needs a description")
    async with db.transaction() as tx:
        found = await chapter_in(tx, production, chapter_number)
        require_owner_or_producer(found, who, production)
        existing = await shots.of_chapter(tx, found.id)
        if number is None:
            number = max((s.number for s in existing), default=0) + 1
        elif any(s.number == number for s in existing):
            raise InvalidInput(f"shot {chapter_number}.{number} already exists")
        shot_id = await shots.create(tx, found.id, number, description.strip(), duration,
                                     camera, characters, notes)
        await audit.record(tx, production.id, who.id, "shot", shot_id, "add",
                           after={"code": f"{chapter_number}.{number}",
                                  "description": description, "duration": duration})
        made = await shots.ref(tx, shot_id)
    assert made is not None
    return made



_SHOT_FIELDS = {"description", "planned_duration", "camera", "characters", "notes", "status"}



async def edit_shot(
    db: Database, production: Production, who: Actor, code: str, **changes: object
) -> ShotRef:
    """Change a shot's plan (its chapter's owner or a producer). Only given fields change."""
    unknown = set(changes) - _SHOT_FIELDS
    if unknown:
        raise InvalidInput(f"a shot has no field {', '.join(sorted(unknown))}")
    changes = {k: v for k, v in changes.items() if v is not None}
    if "planned_duration" in changes:
        changes["planned_duration"] = check_duration(float(changes["planned_duration"]))  # type: ignore[arg-type]
    if "status" in changes and changes["status"] not in SHOT_STATUSES:
        raise InvalidInput(f"a shot status is one of: {', '.join(SHOT_STATUSES)}")
    if changes.get("status") in DECIDED_BY_REVIEW:
        raise InvalidInput(f"a shot becomes {changes['status']} through review: "
                           "/approve names its take, /retake gives a note")
    chapter_number, number = parse_code(code)
    async with db.transaction() as tx:
        found = await shots.by_code(tx, production.id, chapter_number, number)
        if found is None:
            raise NotFound(f"there is no shot {chapter_number}.{number}")
        if found.owner_id != who.id and not who.is_producer:
            raise NotPermitted(f"only chapter {chapter_number}'s owner or a "
                               f"{production.producer_role} can change its shots")
        before = {k: getattr(found.shot, k) for k in changes}
        if "characters" in changes:
            before["characters"] = found.shot.character_names
        refuse_notion_owned(await kept_in_notion(tx, production, mapping.SHOT),
                             {k for k in changes if before[k] != changes[k]},
                             f"shot {chapter_number}.{number}'s")
        if changes and before != changes:
            await shots.update(tx, found.shot.id, **changes)
            await audit.record(tx, production.id, who.id, "shot", found.shot.id, "edit",
                               before=before, after=changes)
        edited = await shots.ref(tx, found.shot.id)
    assert edited is not None
    return edited
