"""The plan of a build: the production read into a timeline, where each entry's segment will be,
and the cards (slates, end credits) drawn for the entries that have no take.

Reads the database once (timeline_of); everything after works on the timeline alone.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from storage import chapters, media_files, members, shots, stems, takes
from storage.productions import Production
from studio.app import Studio
from studio.cut import normalize, plan, slates
from studio.cut.timeline import Entry, Profile, StemEntry, Timeline

TOOLS_USED = ("FFmpeg", "OpenTimelineIO", "Pillow")



async def timeline_of(studio: Studio, prod: Production) -> Timeline:
    """The timeline as the production stands now (omitted shots leave no hole)."""
    settings = studio.settings
    profile = Profile.of(settings)
    conn = studio.db.reader
    line = Timeline(prod.title, profile, stem_tracks=settings.cut_stem_tracks)
    all_chapters = await chapters.all_of(conn, prod.id)
    owners = await members.many(conn, [c.owner_id for c in all_chapters if c.owner_id])
    kept = [c for c in all_chapters if c.status != "omitted"]
    every_shot = await shots.by_chapter(conn, prod.id, include_omitted=False)
    every_stem = await stems.active_by_chapter(conn, prod.id)
    shots_of = {c.id: every_shot.get(c.id, []) for c in kept}
    stems_of = {c.id: every_stem.get(c.id, []) for c in kept}
    # Every approved take, its file and its creator in a few queries, not three per shot.
    approved = await takes.many(conn, [s.approved_take_id for shots_ in shots_of.values()
                                       for s in shots_ if s.approved_take_id])
    files = await media_files.many(conn, [t.media_sha256 for t in approved.values()]
                                   + [s.media_sha256 for st in stems_of.values() for s in st])
    creators = await members.many(conn, [t.creator_id for t in approved.values()
                                         if t.creator_id])
    sources = await takes.many(conn, [t.based_on for t in approved.values() if t.based_on])
    frame = 0
    tools: set[str] = set()
    for chapter in kept:
        owner = owners[chapter.owner_id].name if chapter.owner_id in owners else ""
        chapter_start = frame
        for shot in shots_of[chapter.id]:
            code = f"{chapter.number}.{shot.number}"
            base = dict(code=code, chapter_number=chapter.number, chapter_title=chapter.title,
                        shot_number=shot.number, description=shot.description, owner=owner,
                        planned_duration=shot.planned_duration, notes=shot.notes,
                        start_frame=frame, owner_id=chapter.owner_id)
            take = approved.get(shot.approved_take_id) if shot.approved_take_id else None
            media = files.get(take.media_sha256) if take else None
            if take is None or media is None:
                frames = profile.frames(shot.planned_duration)
                line.entries.append(Entry(kind="slate", frames=frames, reason="not yet approved",
                                          **base))
            else:
                length = shot.planned_duration
                if settings.cut_duration_from == "take" and media.duration:
                    length = media.duration
                frames = profile.frames(length)
                creator = creators.get(take.creator_id) if take.creator_id else None
                line.entries.append(Entry(
                    kind="take", frames=frames, take_id=take.id, take_revision=take.revision,
                    take_kind=take.kind, media_sha256=take.media_sha256,
                    media_name=media.original_name, media_duration=media.duration,
                    media_has_audio=bool(media.has_audio),
                    provider=take.provider, model=take.model,
                    creator=creator.name if creator else "", source=take.source,
                    prompt=take.prompt, seed=take.seed, cost=take.cost,
                    motion=json.loads(take.params or "{}").get("motion"),
                    source_url=take.source_url,
                    based_on_revision=sources[take.based_on].revision
                    if take.based_on in sources else None, **base))
                if take.provider:
                    tools.add(take.provider + (f" ({take.model})" if take.model else ""))
            frame += frames
        for stem in stems_of[chapter.id]:
            media = files.get(stem.media_sha256)
            if frame > chapter_start:
                line.stems.append(StemEntry(chapter.number, stem.kind, stem.media_sha256,
                                            chapter_start, frame - chapter_start,
                                            media.duration if media else None))
    line.credits = credits_of(prod.title, all_chapters, owners, sorted(tools))
    if settings.cut_credits_seconds > 0:
        frames = profile.frames(settings.cut_credits_seconds)
        cards = credit_cards(line.credits)
        for n in range(1, len(cards) + 1):
            # Each card is held the set time: fifty chapters take several cards, not a smaller font.
            line.entries.append(Entry(
                kind="credits", code="credits" if len(cards) == 1 else f"credits-{n}",
                chapter_number=0, chapter_title="End credits", shot_number=n,
                description="End credits" if len(cards) == 1
                else f"End credits ({n} of {len(cards)})",
                owner="", frames=frames, start_frame=frame,
                planned_duration=profile.seconds(frames)))
            frame += frames
    return line



CREDITS_PER_CARD = 8  # lines on one end-credits card, the title's included



def credit_cards(credits: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """The end credits in cards of at most CREDITS_PER_CARD lines, in order."""
    return [credits[i:i + CREDITS_PER_CARD]
            for i in range(0, len(credits), CREDITS_PER_CARD)] or [[]]



def credits_of(title: str, all_chapters: list, owners: dict, tools: list[str]) -> list[
        tuple[str, str]]:
    """(role, names) lines: each chapter and who made it, then the tools used."""
    lines: list[tuple[str, str]] = [("", title)]
    for chapter in all_chapters:
        if chapter.status == "omitted":
            continue
        who = owners[chapter.owner_id].name if chapter.owner_id in owners else "(open)"
        lines.append((f"Chapter {chapter.number} — {chapter.title}", who))
    lines.append(("Made with", ", ".join([*tools, *TOOLS_USED])))
    return lines


OnProgress = Callable[[str, float], None]



@dataclass(frozen=True)
class BrokenTake:
    code: str
    take_id: int
    owner: str
    creator: str
    reason: str
    owner_id: int | None = None



@dataclass(frozen=True)
class BrokenStem:
    """A chapter's stem whose file could not be read: left out of this cut, its owner told."""

    chapter: int
    kind: str
    owner: str
    reason: str
    owner_id: int | None = None



def as_slate(entry: Entry, broken: BrokenTake) -> Entry:
    return dataclasses.replace(entry, kind="slate", reason=f"take r{entry.take_revision} "
                               f"could not be used: {broken.reason}"[:90])



async def segment_paths(studio: Studio, line: Timeline, cache: Path) -> list[Path]:
    """Where each entry's segment will be (made or not), known before anything is made: a
    take's by its media, a slate's or credits card's by what it shows (drawn only if new)."""
    profile = line.profile  # cache: the production's segments folder (layout.cache_home)
    paths = []
    for entry in line.entries:
        if entry.kind != "take":
            key = normalize.cache_key(card_key(line, entry), "image", entry.frames, profile)
        else:
            assert entry.media_sha256 and entry.take_kind
            key = normalize.cache_key(entry.media_sha256, entry.take_kind, entry.frames,
                                      profile)
        paths.append(normalize.segment_path(cache, key))
    return paths



def credits_card(line: Timeline, entry: Entry) -> list[tuple[str, str]]:
    """The lines on the credits card `entry` (its shot_number counts the cards from 1)."""
    return plan.credit_cards(line.credits)[entry.shot_number - 1]



def card_key(line: Timeline, entry: Entry) -> str:
    if entry.kind == "credits":
        return slates.credits_key(credits_card(line, entry), line.profile)
    return slates.slate_key(entry, line.profile)



def draw_card(line: Timeline, entry: Entry, folder: Path) -> Path:
    png = folder / f"{entry.code}.png"
    if entry.kind == "credits":
        return slates.render_credits(credits_card(line, entry), line.profile, png)
    return slates.render_slate(entry, line.profile, png)
