"""Embeds for boards, chapters and shots, cut to Discord's limits (one page ≤ 6000 characters)."""

from __future__ import annotations

import discord

from storage.chapters import ChapterProgress
from storage.shots import Shot, ShotRef
from studio.production.board import ChapterDetail

CHAPTERS_PER_PAGE = 15
SHOTS_PER_PAGE = 20
LINE = 200  # at most CHAPTERS_PER_PAGE × LINE = 3000 characters in a description
COLOUR = discord.Colour(0x2B6CB0)


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def progress_bar(fraction: float, width: int = 10) -> str:
    """A bar of `width` cells, filled to `fraction` (0..1, clamped)."""
    filled = min(width, max(0, round(fraction * width)))
    return "█" * filled + "░" * (width - filled)


def page_count(total: int, per_page: int) -> int:
    return max(1, -(-total // per_page))


def owner_text(name: str | None, discord_id: int | None) -> str:
    if discord_id:
        return f"<@{discord_id}>"
    return name or "open"


def board_page(title: str, rows: list[ChapterProgress], page: int) -> tuple[discord.Embed, int]:
    """Page `page` (0-based, clamped) of the board, and the number of pages."""
    pages = page_count(len(rows), CHAPTERS_PER_PAGE)
    page = min(max(page, 0), pages - 1)
    shown = rows[page * CHAPTERS_PER_PAGE:(page + 1) * CHAPTERS_PER_PAGE]
    lines = []
    for row in shown:
        c = row.chapter
        due = f" · due {c.due_date}" if c.due_date else ""
        owner = owner_text(row.owner_name, row.owner_discord_id)
        shots = f"{row.shots_approved}/{row.shots_total} approved"
        lines.append(cut(f"**{c.number}. {c.title}** — {owner}{due} · {shots} · {c.status}", LINE))
    embed = discord.Embed(title=cut(f"{title} — production board", 256),
                          description="\n".join(lines) or "No chapters yet: a producer runs "
                          "/shot import.", colour=COLOUR)
    done = sum(r.shots_approved for r in rows)
    total = sum(r.shots_total for r in rows)
    claimed = sum(1 for r in rows if r.chapter.owner_id is not None)
    embed.set_footer(text=f"page {page + 1}/{pages} · {len(rows)} chapters, {claimed} claimed · "
                          f"{done}/{total} shots approved")
    return embed, pages


def chapter_embed(detail: ChapterDetail, page: int = 0) -> discord.Embed:
    c = detail.chapter
    owner = owner_text(detail.owner.name if detail.owner else None,
                       detail.owner.discord_id if detail.owner else None)
    embed = discord.Embed(title=cut(f"Chapter {c.number}: {c.title}", 256),
                          description=cut(c.synopsis, 1000) or None, colour=COLOUR)
    embed.add_field(name="Owner", value=owner)
    embed.add_field(name="Status", value=c.status)
    embed.add_field(name="Due", value=c.due_date or "—")
    live = [s for s in detail.shots if s.status != "omitted"]
    approved = sum(1 for s in live if s.status == "approved")
    shown = live[page * SHOTS_PER_PAGE:(page + 1) * SHOTS_PER_PAGE]
    lines = [cut(f"`{c.number}.{s.number}` {s.planned_duration:g}s · {s.status} · "
                  f"{s.description}", 150) for s in shown]
    embed.add_field(name=f"Shots ({approved}/{len(live)} approved)",
                    value=cut("\n".join(lines), 1024) or "none yet", inline=False)
    if len(live) > SHOTS_PER_PAGE:
        embed.set_footer(text=f"shots {page * SHOTS_PER_PAGE + 1}–"
                              f"{page * SHOTS_PER_PAGE + len(shown)} of {len(live)}")
    return embed


def shot_embed(ref: ShotRef, takes: int | None = None,
               lineage: list[str] | None = None) -> discord.Embed:
    s: Shot = ref.shot
    embed = discord.Embed(title=cut(f"Shot {ref.code} — {ref.chapter_title}", 256),
                          description=cut(s.description, 2000), colour=COLOUR)
    embed.add_field(name="Duration", value=f"{s.planned_duration:g}s")
    embed.add_field(name="Status", value=s.status)
    if takes is not None:
        embed.add_field(name="Takes", value=str(takes))
    if s.camera:
        embed.add_field(name="Camera", value=cut(s.camera, 1024), inline=False)
    if s.character_names:
        embed.add_field(name="Characters", value=cut(", ".join(s.character_names), 1024),
                        inline=False)
    if s.notes:
        embed.add_field(name="Notes", value=cut(s.notes, 1024), inline=False)
    if lineage:  # each take with the takes it was made from: "r3 video · Runway ← r2 …"
        embed.add_field(name="Takes", value=cut("\n".join(lineage[-15:]), 1024), inline=False)
    return embed


def shot_list_embed(chapter_number: int, title: str, shots: list[Shot]) -> discord.Embed:
    live = [s for s in shots if s.status != "omitted"]
    lines = [cut(f"`{chapter_number}.{s.number}` {s.planned_duration:g}s · {s.status} · "
                  f"{s.description}", 150) for s in live[:SHOTS_PER_PAGE]]
    more = len(live) - SHOTS_PER_PAGE
    if more > 0:
        lines.append(f"… and {more} more")
    return discord.Embed(title=cut(f"Chapter {chapter_number}: {title} — shots", 256),
                         description="\n".join(lines) or "no shots yet", colour=COLOUR)
