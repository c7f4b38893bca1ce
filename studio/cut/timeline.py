"""The cut's timeline as plain types: the profile, entries (a take, a slate or a credits card)
and stems, counted in frames at the profile's rational rate so 23.976 fps never drifts.

Pure: no database, no Studio, so the segment workers import it cheaply (plan.py reads it
from the production).
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field, fields
from fractions import Fraction
from math import lcm

from studio.ops.settings import Settings

SAMPLE_RATE = 48000
# What each sound track is called, in the film and in the editor's timeline.
TRACK_TITLES = {"mix": "Mix", "takes": "Takes", "vo": "VO", "sfx": "SFX", "music": "Music"}


def track_title(kind: str) -> str:
    return TRACK_TITLES.get(kind, kind.upper())



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

    # Exact (Fraction), and remembered: a feature film's plan asks them of its thousand shots,
    # most of which last the same few seconds.
    @functools.lru_cache(maxsize=4096)  # noqa: B019 (a Profile is a small frozen value)
    def frames(self, seconds: float) -> int:
        return max(1, round(Fraction(seconds) * self.fps))

    @functools.lru_cache(maxsize=4096)  # noqa: B019
    def seconds(self, frames: int) -> float:
        return float(Fraction(frames) / self.fps)

    @functools.lru_cache(maxsize=4096)  # noqa: B019
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
    # The rest of the take's provenance, for the editor's metadata (generated or uploaded).
    source: str = ""
    prompt: str = ""
    seed: int | None = None
    motion: int | None = None
    cost: float = 0.0
    source_url: str = ""
    based_on_revision: int | None = None  # the take of the shot it was made from
    reason: str = ""  # why a slate stands here



@dataclass(frozen=True)
class StemEntry:
    chapter_number: int
    kind: str
    media_sha256: str
    start_frame: int
    frames: int  # the chapter's length: a stem never runs into the next chapter
    media_duration: float | None



@dataclass(frozen=True)
class Span:
    """entries[first:last]: one chapter's shots (chapter None: the end credits)."""

    first: int
    last: int
    chapter: int | None


@dataclass
class Timeline:
    production_title: str
    profile: Profile
    entries: list[Entry] = field(default_factory=list)
    stems: list[StemEntry] = field(default_factory=list)
    credits: list[tuple[str, str]] = field(default_factory=list)
    # The watch copy carries the mix alone; a multi-track master (the takes' sound and each
    # stem kind beside it) only when the production asks for one (SLATE_CUT_STEM_TRACKS).
    stem_tracks: bool = False

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

    def chapter_spans(self) -> list[Span]:
        """The entries grouped as the film plays them: each chapter's, then the end credits'."""
        spans: list[Span] = []
        for i, entry in enumerate(self.entries):
            chapter = None if entry.kind == "credits" else entry.chapter_number
            if spans and spans[-1].chapter == chapter and spans[-1].last == i:
                spans[-1] = Span(spans[-1].first, i + 1, chapter)
            else:
                spans.append(Span(i, i + 1, chapter))
        return spans

    def to_json(self) -> dict:
        # Field by field, as asdict would (every field is a plain value): asdict deep-copies
        # each, which costs a feature film's night half a second.
        return {"title": self.production_title,
                "profile": {"width": self.profile.width, "height": self.profile.height,
                            "fps": str(self.profile.fps), "lufs": self.profile.lufs},
                "frames": self.frames, "duration": self.duration,
                "entries": [{n: getattr(e, n) for n in _ENTRY_FIELDS} for e in self.entries],
                "stems": [{n: getattr(s, n) for n in _STEM_FIELDS} for s in self.stems],
                "credits": self.credits, "stem_tracks": self.stem_tracks}

    def to_text(self) -> str:
        """The one form a cut keeps its timeline in (its row and timeline.json): written once a
        night, and compared as text with the last cut's to see whether anything changed."""
        return json.dumps(self.to_json(), sort_keys=True)

    @classmethod
    def from_json(cls, data: dict) -> Timeline:
        """A published cut's timeline read back (its timeline.json); fields a later release
        added take their defaults, fields it dropped are ignored."""
        def known(kind: type, row: dict) -> dict:
            names = {f.name for f in fields(kind)}
            return {k: v for k, v in row.items() if k in names}

        shape = data["profile"]
        profile = Profile(int(shape["width"]), int(shape["height"]), Fraction(shape["fps"]),
                          float(shape.get("lufs", -14.0)))
        return cls(str(data["title"]), profile,
                   [Entry(**known(Entry, e)) for e in data.get("entries", [])],
                   [StemEntry(**known(StemEntry, s)) for s in data.get("stems", [])],
                   [(str(r), str(n)) for r, n in data.get("credits", [])],
                   bool(data.get("stem_tracks", False)))

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()


_ENTRY_FIELDS = tuple(f.name for f in fields(Entry))
_STEM_FIELDS = tuple(f.name for f in fields(StemEntry))
