"""What each Notion column means, which side owns it, and how values cross the border.

Ownership is per field: Slate owns what Slate computes (status, owner, takes, votes, cut);
Notion owns the schedule producers edit there (due date, priority, notes). A few plan fields
(`MOVABLE`) are Slate's unless a production hands them to Notion. An owner's value is never
overwritten by the other side: a pull ignores Notion edits to Slate's fields (and the next
push restores them), a push never sends Notion's fields after the page exists.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from storage.notion_rows import ChapterFacts, NotionLink, ShotFacts
from studio.errors import InvalidInput

SLATE = "slate"
NOTION = "notion"
TEXT_CHUNK = 2000  # characters per rich-text object
MAX_CHUNKS = 100  # rich-text objects per property value
KEY_PROPERTY = "Key"
CHAPTER = "chapter"
SHOT = "shot"

STATUS_OPTIONS = ["open", "todo", "wip", "needs_review", "approved", "retake", "omitted"]
PRIORITY_OPTIONS = ["high", "medium", "low"]


@dataclass(frozen=True)
class Field:
    name: str  # Slate's name for the field
    prop: str  # the Notion property's name
    kind: str  # title, rich_text, link_text, select, date, number, relation
    owner: str  # SLATE or NOTION by default
    column: str | None = None  # the local column a pull writes, when Notion owns the field
    movable: bool = False  # a production may hand it to Notion


CHAPTER_FIELDS = (
    Field("title", "Name", "title", SLATE, "title", movable=True),
    Field("key", KEY_PROPERTY, "rich_text", SLATE),
    Field("number", "Number", "number", SLATE),
    Field("description", "Description", "rich_text", SLATE, "synopsis", movable=True),
    Field("status", "Status", "select", SLATE),
    Field("owner", "Owner", "rich_text", SLATE),
    Field("due", "Due", "date", NOTION, "due_date"),
    Field("priority", "Priority", "select", NOTION, "priority"),
    Field("notes", "Notes", "rich_text", NOTION, "notes"),
    Field("planned", "Planned duration", "number", SLATE),
    Field("actual", "Actual duration", "number", SLATE),
    Field("approved", "Approved shots", "number", SLATE),
    Field("votes", "Votes", "number", SLATE),
    Field("cut", "Cut version", "number", SLATE),
    Field("last_change", "Last change", "date", SLATE),
)

SHOT_FIELDS = (
    Field("title", "Name", "title", SLATE),
    Field("key", KEY_PROPERTY, "rich_text", SLATE),
    Field("chapter", "Chapter", "relation", SLATE),
    Field("description", "Description", "rich_text", SLATE, "description", movable=True),
    Field("status", "Status", "select", SLATE),
    Field("owner", "Owner", "rich_text", SLATE),
    Field("due", "Due", "date", NOTION, "due_date"),
    Field("priority", "Priority", "select", NOTION, "priority"),
    Field("notes", "Notes", "rich_text", NOTION, "notes"),
    Field("planned", "Planned duration", "number", SLATE, "planned_duration", movable=True),
    Field("actual", "Actual duration", "number", SLATE),
    Field("approved_take", "Approved take", "link_text", SLATE),
    Field("takes", "Takes", "number", SLATE),
    Field("votes", "Votes", "number", SLATE),
    Field("last_change", "Last change", "date", SLATE),
)

FIELDS = {CHAPTER: CHAPTER_FIELDS, SHOT: SHOT_FIELDS}
MOVABLE = sorted({f"{e}.{f.name}" for e, fs in FIELDS.items() for f in fs if f.movable})


def check_notion_owned(names: list[str]) -> list[str]:
    """Validate a production's hand-over list, e.g. ['shot.planned', 'chapter.description']."""
    cleaned = sorted({n.strip() for n in names if n.strip()})
    wrong = [n for n in cleaned if n not in MOVABLE]
    if wrong:
        raise InvalidInput(f"{', '.join(wrong)} cannot be owned by Notion; "
                           f"the fields that can are: {', '.join(MOVABLE)}")
    return cleaned


def owners(link: NotionLink | None, entity: str) -> dict[str, str]:
    handed = set(link.notion_owned_fields) if link else set()
    return {f.name: NOTION if f.movable and f"{entity}.{f.name}" in handed else f.owner
            for f in FIELDS[entity]}


def notion_columns(link: NotionLink | None, entity: str) -> dict[str, str]:
    """Local columns whose value Notion owns for this production: column → Notion property.
    Slate refuses to change these itself; they arrive by pull."""
    if link is None:
        return {}
    kinds = owners(link, entity)
    return {f.column: prop_name(f, link, entity) for f in FIELDS[entity]
            if f.column is not None and kinds[f.name] == NOTION}


def prop_name(field: Field, link: NotionLink, entity: str) -> str:
    if field.kind == "title":
        return link.chapters_title if entity == CHAPTER else link.shots_title
    return field.prop


def chapter_key(number: int) -> str:
    return f"chapter {number}"


def shot_key(chapter_number: int, number: int) -> str:
    return f"shot {chapter_number}.{number}"


# --- values ---------------------------------------------------------------------------------

def _num(value: float | int | None) -> float | None:
    return None if value is None else round(float(value), 3)


def _minute(stamp: str | None) -> str | None:
    """A time as Notion keeps it: to the minute, in UTC."""
    if not stamp:
        return None
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(second=0, microsecond=0).isoformat()


def _date(value: str | None) -> str | None:
    if not value:
        return None
    return value[:10] if len(value) <= 10 else _minute(value)


def _select(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def _id(value: str | None) -> str | None:
    return value.replace("-", "").lower() if value else None


def chapter_values(c: ChapterFacts, shots: list[ShotFacts], cut_version: int | None) -> dict:
    live = [s for s in shots if s.status != "omitted"]
    approved = [s for s in live if s.approved_revision is not None]
    votes = [s.votes for s in live if s.votes is not None]
    return {
        "title": c.title,
        "key": chapter_key(c.number),
        "number": _num(c.number),
        "description": c.synopsis,
        "status": c.status,
        "owner": c.owner_name or "",
        "due": _date(c.due_date),
        "priority": _select(c.priority),
        "notes": c.notes,
        "planned": _num(sum(s.planned_duration for s in live)),
        "actual": _num(sum(s.approved_duration or 0 for s in approved)) if approved else None,
        "approved": _num(len(approved)),
        "votes": _num(sum(votes)) if votes else None,
        "cut": _num(cut_version),
        "last_change": _minute(c.updated_at),
    }


def shot_values(s: ShotFacts, chapter_page: str | None, media_url: str | None) -> dict:
    take: list | None = None
    if s.approved_revision is not None:
        text = f"r{s.approved_revision}" + (f" · {s.approved_provider}" if s.approved_provider
                                            else "")
        url = (f"{media_url.rstrip('/')}/{s.approved_sha256[:2]}/{s.approved_sha256}"
               if media_url and s.approved_sha256 else None)
        take = [text, url]
    return {
        "title": f"{s.chapter_number}.{s.number}",
        "key": shot_key(s.chapter_number, s.number),
        "chapter": _id(chapter_page),
        "description": s.description,
        "status": s.status,
        "owner": s.owner_name or "",
        "due": _date(s.due_date),
        "priority": _select(s.priority),
        "notes": s.notes,
        "planned": _num(s.planned_duration),
        "actual": _num(s.approved_duration),
        "approved_take": take,
        "takes": _num(s.takes),
        "votes": _num(s.votes),
        "last_change": _minute(s.updated_at),
    }


def digest(values: dict, names: list[str] | set[str]) -> str:
    subset = {n: values.get(n) for n in sorted(names)}
    encoded = json.dumps(subset, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode()).hexdigest()[:32]


def owned(entity: str, own: dict[str, str], side: str) -> list[str]:
    return [f.name for f in FIELDS[entity] if own[f.name] == side]


# --- Notion property values -----------------------------------------------------------------

def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, link: str | None = None) -> list[dict]:
    """Rich-text objects of at most 2000 characters (Notion counts UTF-16 units)."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for ch in text:
        width = 2 if ord(ch) > 0xFFFF else 1
        if size + width > TEXT_CHUNK:
            chunks.append("".join(current))
            current, size = [], 0
        current.append(ch)
        size += width
    if current:
        chunks.append("".join(current))
    if len(chunks) > MAX_CHUNKS:
        raise InvalidInput(f"text of {len(text)} characters is longer than Notion keeps "
                           f"({MAX_CHUNKS * TEXT_CHUNK})")
    items = []
    for chunk in chunks:
        content: dict[str, Any] = {"content": chunk}
        if link:
            content["link"] = {"url": link}
        items.append({"type": "text", "text": content})
    return items


def to_property(field: Field, value: Any) -> dict:
    kind = field.kind
    if kind == "title":
        return {"title": split_text(value or "")}
    if kind == "rich_text":
        return {"rich_text": split_text(value or "")}
    if kind == "link_text":
        text, url = value if value else ("", None)
        return {"rich_text": split_text(text, url)}
    if kind == "select":
        return {"select": {"name": value} if value else None}
    if kind == "date":
        return {"date": {"start": value} if value else None}
    if kind == "number":
        return {"number": value}
    if kind == "relation":
        return {"relation": [{"id": value}] if value else []}
    raise ValueError(f"unknown kind {kind}")


def _plain(items: list[dict] | None) -> str:
    return "".join(i.get("plain_text") or (i.get("text") or {}).get("content", "")
                   for i in items or [])


def from_property(field: Field, prop: dict | None) -> Any:
    """The value Slate would have pushed, read back from a page property."""
    if prop is None:
        return None
    kind = field.kind
    if kind == "title":
        return _plain(prop.get("title"))
    if kind == "rich_text":
        return _plain(prop.get("rich_text"))
    if kind == "link_text":
        items = prop.get("rich_text") or []
        if not items:
            return None
        first = items[0]
        url = first.get("href") or ((first.get("text") or {}).get("link") or {}).get("url")
        return [_plain(items), url]
    if kind == "select":
        return _select((prop.get("select") or {}).get("name"))
    if kind == "date":
        return _date((prop.get("date") or {}).get("start"))
    if kind == "number":
        return _num(prop.get("number"))
    if kind == "relation":
        related = prop.get("relation") or []
        return _id(related[0]["id"]) if related else None
    raise ValueError(f"unknown kind {kind}")


def page_values(entity: str, link: NotionLink, page: dict) -> dict:
    props = page.get("properties", {})
    return {f.name: from_property(f, props.get(prop_name(f, link, entity)))
            for f in FIELDS[entity]}


def page_properties(entity: str, link: NotionLink, values: dict, names: list[str]) -> dict:
    wanted = set(names)
    return {prop_name(f, link, entity): to_property(f, values.get(f.name))
            for f in FIELDS[entity] if f.name in wanted}


# --- pulled values into Slate's columns -----------------------------------------------------

def local_value(entity: str, field: Field, value: Any) -> Any:
    """Check a value pulled from Notion and turn it into the column's value; InvalidInput if bad."""
    if field.name == "due":
        return value[:10] if value else None
    if field.name == "priority":
        if value and len(value) > 100:
            raise InvalidInput("a priority is at most 100 characters")
        return value or ""
    if field.name == "planned":
        if value is None or not 0 < value <= 600:
            raise InvalidInput("a planned duration is more than 0 and at most 600 seconds")
        return float(value)
    if field.name == "title":
        text = (value or "").strip()
        if not text or len(text) > 200:
            raise InvalidInput("a chapter title is 1 to 200 characters")
        return text
    if field.name == "description" and entity == SHOT and not (value or "").strip():
        raise InvalidInput("a shot needs a description")
    return value or ""
