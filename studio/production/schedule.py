"""The schedule: due dates and chapter statuses, and the fields a production keeps in Notion.
"""

from __future__ import annotations

from datetime import date

from storage import audit, chapters, notion_rows
from storage.chapters import Chapter
from storage.db import Database
from storage.productions import Production
from storage.rows import Conn
from studio.errors import InvalidInput, NotPermitted
from studio.notion import mapping
from studio.production.board import chapter_in
from studio.production.people import Actor, require_producer

CHAPTER_STATUSES = ("open", "wip", "needs_review", "approved", "retake", "omitted")



# Set only by review, which also records the take or the note the status stands for.
DECIDED_BY_REVIEW = ("approved", "retake")



async def kept_in_notion(conn: Conn, production: Production, entity: str) -> dict[str, str]:
    """The columns Notion owns for this production (column → Notion property), if linked."""
    return mapping.notion_columns(await notion_rows.link(conn, production.id), entity)



def refuse_notion_owned(owned: dict[str, str], columns: set[str], what: str) -> None:
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
        found = await chapter_in(tx, production, number)
        if found.due_date == due:
            return found
        refuse_notion_owned(await kept_in_notion(tx, production, mapping.CHAPTER),
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
        found = await chapter_in(tx, production, number)
        require_owner_or_producer(found, who, production)
        if found.status == status:
            return found
        await chapters.update(tx, found.id, status=status)
        await audit.record(tx, production.id, who.id, "chapter", found.id, "status",
                           before={"status": found.status}, after={"status": status})
        changed = await chapters.get(tx, found.id)
    assert changed is not None
    return changed



def require_owner_or_producer(found: Chapter, who: Actor, production: Production) -> None:
    if found.owner_id != who.id and not who.is_producer:
        raise NotPermitted(f"only chapter {found.number}'s owner or a "
                           f"{production.producer_role} can change it")
