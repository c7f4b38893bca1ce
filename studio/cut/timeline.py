"""The cut's timeline, read from the production: chapters in order, shots in order, each shot
its approved take (or a slate), each chapter's stems at the chapter's start.

Durations are counted in frames at the profile's rational rate, so 23.976 fps never drifts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from math import lcm

from storage import chapters, media_files, members, shots, stems, takes
from storage.productions import Production
from studio.app import Studio
from studio.ops.settings import Settings

SAMPLE_RATE = 48000


@dataclass(frozen=True)
class Profile:
    """What every segment of the cut is normalized to."""

    width: int
    height: int
    fps: Fraction
    lufs: float = -14.0

    @classmethod
    def of(cls, settings: Settings) -> Profile:
        return cls(settings.cut_width, settings.cut_height, settings.fps, settings.cut_lufs)

    @property
    def key(self) -> str:
        """The part of a cache key that the picture and sound of a segment depend on."""
        return f"{self.width}x{self.height}@{self.fps}/yuv420p/h264/pcm48k2"

    @property
    def timescale(self) -> int:
        # A track timescale in which every frame lasts a whole number of ticks.
        return lcm(self.fps.numerator, 90000)

    def frames(self, seconds: float) -> int:
        return max(1, round(Fraction(seconds) * self.fps))

    def seconds(self, frames: int) -> float:
        return float(Fraction(frames) / self.fps)

    def samples(self, frames: int) -> int:
        return round(Fraction(frames) / self.fps * SAMPLE_RATE)


@dataclass(frozen=True)
class Entry:
    """One segment of the film: a shot's approved take, a shot's slate, or the end credits."""

    kind: str  # take | slate | credits
    code: str
    chapter_number: int
    chapter_title: str
    shot_number: int
    description: str
    owner: str
    frames: int
    start_frame: int
    planned_duration: float
    owner_id: int | None = None
    notes: str = ""
    take_id: int | None = None
    take_revision: int | None = None
    take_kind: str | None = None
    media_sha256: str | None = None
    media_name: str = ""
    media_duration: float | None = None
    media_has_audio: bool = False
    provider: str = ""
    model: str = ""
    creator: str = ""
    reason: str = ""  # why a slate stands here


@dataclass(frozen=True)
class StemEntry:
    chapter_number: int
    kind: str
    media_sha256: str
    start_frame: int
    frames: int  # the chapter's length: a stem never runs into the next chapter
    media_duration: float | None


@dataclass
class Timeline:
    production_title: str
    profile: Profile
    entries: list[Entry] = field(default_factory=list)
    stems: list[StemEntry] = field(default_factory=list)
    credits: list[tuple[str, str]] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return sum(e.frames for e in self.entries)

    @property
    def duration(self) -> float:
        return self.profile.seconds(self.frames)

    @property
    def shots(self) -> list[Entry]:
        return [e for e in self.entries if e.kind != "credits"]

    @property
    def approved(self) -> list[Entry]:
        return [e for e in self.entries if e.kind == "take"]

    @property
    def stem_kinds(self) -> list[str]:
        return sorted({s.kind for s in self.stems})

    def to_json(self) -> dict:
        return {"title": self.production_title,
                "profile": {"width": self.profile.width, "height": self.profile.height,
                            "fps": str(self.profile.fps), "lufs": self.profile.lufs},
                "frames": self.frames, "duration": self.duration,
                "entries": [asdict(e) for e in self.entries],
                "stems": [asdict(s) for s in self.stems],
                "credits": self.credits}

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()


TOOLS_USED = ("FFmpeg", "OpenTimelineIO", "Pillow")


async def build(studio: Studio, prod: Production) -> Timeline:
    """The timeline as the production stands now (omitted shots leave no hole)."""
    settings = studio.settings
    profile = Profile.of(settings)
    conn = studio.db.reader
    line = Timeline(prod.title, profile)
    all_chapters = await chapters.all_of(conn, prod.id)
    owners = await members.many(conn, [c.owner_id for c in all_chapters if c.owner_id])
    kept = [c for c in all_chapters if c.status != "omitted"]
    shots_of = {c.id: await shots.of_chapter(conn, c.id, include_omitted=False) for c in kept}
    stems_of = {c.id: await stems.active_of_chapter(conn, c.id) for c in kept}
    # Every approved take, its file and its creator in a few queries, not three per shot.
    approved = await takes.many(conn, [s.approved_take_id for shots_ in shots_of.values()
                                       for s in shots_ if s.approved_take_id])
    files = await media_files.many(conn, [t.media_sha256 for t in approved.values()]
                                   + [s.media_sha256 for st in stems_of.values() for s in st])
    creators = await members.many(conn, [t.creator_id for t in approved.values()
                                         if t.creator_id])
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
                    creator=creator.name if creator else "", **base))
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
