"""The production's rulebook: set-up, claims, assignments, statuses and due dates.

Every change happens in one transaction with its audit row, so what a user is told has
already been committed, and a chapter has exactly one owner however many claims race for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from storage import audit, chapters, members, notion_rows, productions, shots
from storage.chapters import Chapter, ChapterProgress
from storage.db import Database
from storage.members import Member
from storage.productions import Production
from storage.rows import Conn
from storage.shots import Shot, ShotRef
from studio.errors import ClaimRefused, InvalidInput, NotFound, NotPermitted
from studio.notion import mapping
from studio.people import Actor, require_producer
from studio.units import MAX_NUMBER

CHAPTER_STATUSES = ("open", "wip", "needs_review", "approved", "retake", "omitted")
SHOT_STATUSES = ("todo", "wip", "needs_review", "approved", "retake", "omitted")
# Set only by review, which also records the take or the note the status stands for.
DECIDED_BY_REVIEW = ("approved", "retake")
MAX_DURATION_S = 600.0

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
    return await _chapter(db.reader, production, number)


async def _chapter(conn: Conn, production: Production, number: int) -> Chapter:
    found = await chapters.by_number(conn, production.id, number) \
        if 0 < number <= MAX_NUMBER else None  # past SQLite's integers: no such chapter
    if found is None:
        raise NotFound(f"there is no chapter {str(number)[:20]}")
    return found


async def _owner_name(conn: Conn, owner_id: int | None) -> str:
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
        found = await _chapter(tx, production, number)
        if found.owner_id == who.id:
            raise ClaimRefused(f"you already hold chapter {number}")
        if found.owner_id is not None:
            owner = await _owner_name(tx, found.owner_id)
            raise ClaimRefused(f"chapter {number} is already claimed by {owner}")
        if found.status == "omitted":
            raise ClaimRefused(f"chapter {number} has been cut from the film")
        await _check_limit(tx, production, who.member, who="you")
        return await _hand_over(tx, production, who, found, who.id, "claim", None, who.name)


async def release(db: Database, production: Production, who: Actor, number: int) -> Chapter:
    """Give up a chapter you hold (producers may free anyone's: see `unassign`)."""
    async with db.transaction() as tx:
        found = await _chapter(tx, production, number)
        if found.owner_id != who.id:
            if found.owner_id is None:
                raise ClaimRefused(f"chapter {number} is not claimed")
            owner = await _owner_name(tx, found.owner_id)
            raise ClaimRefused(f"chapter {number} is held by {owner}, not you")
        return await _hand_over(tx, production, who, found, None, "release", who.name, None)


async def assign(
    db: Database, production: Production, who: Actor, number: int, to: Member,
    *, override_limit: bool = False,
) -> Chapter:
    """A producer gives a chapter to a member (replacing any owner)."""
    require_producer(who, production, "assigning a chapter")
    async with db.transaction() as tx:
        found = await _chapter(tx, production, number)
        if found.owner_id == to.id:
            raise ClaimRefused(f"{to.name} already holds chapter {number}")
        if not override_limit:
            await _check_limit(tx, production, to, who=to.name)
        before = None if found.owner_id is None else await _owner_name(tx, found.owner_id)
        return await _hand_over(tx, production, who, found, to.id, "assign", before, to.name)


async def unassign(db: Database, production: Production, who: Actor, number: int) -> Chapter:
    """A producer frees a chapter."""
    require_producer(who, production, "freeing a chapter")
    async with db.transaction() as tx:
        found = await _chapter(tx, production, number)
        if found.owner_id is None:
            raise ClaimRefused(f"chapter {number} is not claimed")
        before = await _owner_name(tx, found.owner_id)
        return await _hand_over(tx, production, who, found, None, "unassign", before, None)


async def transfer(
    db: Database, production: Production, who: Actor, number: int, to: Member
) -> Chapter:
    """The owner (or a producer) hands a chapter to another member, within their limit."""
    async with db.transaction() as tx:
        found = await _chapter(tx, production, number)
        if found.owner_id != who.id and not who.is_producer:
            raise NotPermitted(f"only chapter {number}'s owner or a "
                               f"{production.producer_role} can hand it over")
        if found.owner_id == to.id:
            raise ClaimRefused(f"{to.name} already holds chapter {number}")
        await _check_limit(tx, production, to, who=to.name)
        before = await _owner_name(tx, found.owner_id)
        return await _hand_over(tx, production, who, found, to.id, "transfer", before, to.name)


async def kept_in_notion(conn: Conn, production: Production, entity: str) -> dict[str, str]:
    """The columns Notion owns for this production (column → Notion property), if linked."""
    return mapping.notion_columns(await notion_rows.link(conn, production.id), entity)


def _refuse_notion_owned(owned: dict[str, str], columns: set[str], what: str) -> None:
    taken = sorted(owned[c] for c in columns if c in owned)
    if taken:
        raise NotPermitted(f"{what} {' and '.join(taken)} "
                           f"{'is' if len(taken) == 1 else 'are'} kept in Notion for this "
                           "production: change it there and Slate pulls it in")


def parse_due(text: str | None) -> str | None:
    if text is None or not text.strip() or text.strip().lower() in {"none", "clear"}:
        return None
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise InvalidInput(f"'{text.strip()[:40]}' is not a date: use YYYY-MM-DD") from None


async def set_due(
    db: Database, production: Production, who: Actor, number: int, due: str | None
) -> Chapter:
    """A producer sets (or clears, with None) a chapter's due date."""
    require_producer(who, production, "setting a due date")
    due = parse_due(due)
    async with db.transaction() as tx:
        found = await _chapter(tx, production, number)
        if found.due_date == due:
            return found
        _refuse_notion_owned(await kept_in_notion(tx, production, mapping.CHAPTER),
                             {"due_date"}, f"chapter {number}'s")
        await chapters.update(tx, found.id, due_date=due)
        await audit.record(tx, production.id, who.id, "chapter", found.id, "due",
                           before={"due_date": found.due_date}, after={"due_date": due})
        changed = await chapters.get(tx, found.id)
    assert changed is not None
    return changed


async def set_chapter_status(
    db: Database, production: Production, who: Actor, number: int, status: str
) -> Chapter:
    if status not in CHAPTER_STATUSES:
        raise InvalidInput(f"a chapter status is one of: {', '.join(CHAPTER_STATUSES)}")
    async with db.transaction() as tx:
        found = await _chapter(tx, production, number)
        _require_owner_or_producer(found, who, production)
        if found.status == status:
            return found
        await chapters.update(tx, found.id, status=status)
        await audit.record(tx, production.id, who.id, "chapter", found.id, "status",
                           before={"status": found.status}, after={"status": status})
        changed = await chapters.get(tx, found.id)
    assert changed is not None
    return changed


def _require_owner_or_producer(found: Chapter, who: Actor, production: Production) -> None:
    if found.owner_id != who.id and not who.is_producer:
        raise NotPermitted(f"only chapter {found.number}'s owner or a "
                           f"{production.producer_role} can change it")


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
        found = await _chapter(tx, production, chapter_number)
        _require_owner_or_producer(found, who, production)
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
        _refuse_notion_owned(await kept_in_notion(tx, production, mapping.SHOT),
                             {k for k in changes if before[k] != changes[k]},
                             f"shot {chapter_number}.{number}'s")
        if changes and before != changes:
            await shots.update(tx, found.shot.id, **changes)
            await audit.record(tx, production.id, who.id, "shot", found.shot.id, "edit",
                               before=before, after=changes)
        edited = await shots.ref(tx, found.shot.id)
    assert edited is not None
    return edited


@dataclass(frozen=True)
class ChapterDetail:
    chapter: Chapter
    owner: Member | None
    shots: list[Shot]


async def chapter_detail(db: Database, production: Production, number: int) -> ChapterDetail:
    found = await chapter(db, production, number)
    owner = await members.get(db.reader, found.owner_id) if found.owner_id else None
    return ChapterDetail(found, owner, await shots.of_chapter(db.reader, found.id))
