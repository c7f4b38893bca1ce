"""The film's picture a reel at a time: a reel is one chapter's segments (or the credits') as
H.264 samples end to end, with their tables, cached by the segments it holds.

The film is then written from a dozen reels rather than hundreds of segments (studio/mp4.py),
so the night after one approval re-reads one chapter's segments and re-encodes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

from studio.cut import seal, segment_read
from studio.cut.mp4 import VideoReel
from studio.cut.timeline import Timeline
from studio.media import UNREADABLE, CacheDamaged, FFmpegFailed, ffmpeg_version
from studio.waiting import stopped

# Bump when what a reel holds changes: old cached reels then stop matching.
RECIPE = "3"


@dataclass(frozen=True)
class Reel:
    first: int  # index of its first entry in the timeline
    last: int  # index after its last entry


@dataclass(frozen=True)
class BuiltReel:
    key: str
    samples: VideoReel
    avcc: bytes
    delay: int  # the composition offset of its first picture, in media ticks
    cached: bool


def plan(line: Timeline) -> list[Reel]:
    """A reel per chapter, in timeline order, and one for the end credits."""
    return [Reel(span.first, span.last) for span in line.chapter_spans()]


def reel_key(line: Timeline, reel: Reel, segments: list[Path]) -> str:
    text = json.dumps([RECIPE, ffmpeg_version(), line.profile.key,
                       [s.name for s in segments[reel.first:reel.last]]])
    return hashlib.sha256(text.encode()).hexdigest()


def _read(line: Timeline, reel: Reel, segments: list[Path], data: Path) -> dict:
    """The reel's segments' samples (no decoding: each was decoded when made, and each is read
    by its own tables: segment_read.py) into `data`, and return the reel's tables. A segment
    that cannot be read back is CacheDamaged."""
    tables = _Tables(line.profile.timescale)
    with data.open("wb") as out:
        for entry, segment in zip(line.entries[reel.first:reel.last],
                                  segments[reel.first:reel.last], strict=True):
            shot = "the end credits" if entry.kind == "credits" else f"shot {entry.code}"
            try:
                tables.add(segment, shot, entry.frames, out)
            except FFmpegFailed as exc:
                raise CacheDamaged(str(segment), str(exc)) from None
            except UNREADABLE as exc:
                raise CacheDamaged(
                    str(segment), f"the normalized picture of {shot} cannot be read "
                    f"({type(exc).__name__})") from None
    return {"sizes": tables.sizes, "offsets": tables.offsets, "keys": tables.keys,
            "avcc": (tables.avcc or b"").hex(), "delay": tables.delay or 0, "crc": tables.crc}


class _Tables:
    """A reel's sample tables, a segment at a time; each segment checked as it is read."""

    def __init__(self, ticks: int) -> None:
        self.ticks = ticks
        self.sizes: list[int] = []
        self.offsets: list[int] = []
        self.keys: list[int] = []
        self.avcc: bytes | None = None
        self.delay: int | None = None
        self.crc = 0  # of the reel's samples, as written

    def add(self, segment: Path, shot: str, frames: int, out: BinaryIO) -> None:
        try:
            found = segment_read.pictures(segment)
        except seal.Broken as exc:
            raise FFmpegFailed(f"the normalized picture of {shot} cannot be trusted: "
                               f"{exc}") from None
        if self.avcc is None:
            self.avcc = found.avcc
        elif found.avcc != self.avcc:
            raise FFmpegFailed(f"the normalized picture of {shot} was encoded with "
                               f"other settings than the rest of its chapter")
        base = len(self.sizes)
        if found.timescale == self.ticks:
            offsets, first_dts = found.offsets, found.first_dts
        else:  # a segment in other ticks than the reel's (made elsewhere)
            scale = Fraction(self.ticks, found.timescale)
            offsets = [int(offset * scale) for offset in found.offsets]
            first_dts = int(found.first_dts * scale)
        self.crc = seal.crc(found.data, self.crc)
        out.write(found.data)
        self.sizes += found.sizes
        self.offsets += offsets
        self.keys += [base + key for key in found.keys]
        count = len(found.sizes)
        if count != frames:
            raise FFmpegFailed(f"the normalized picture of {shot} holds {count} frames, "
                               f"not {frames}")
        if not found.keys or found.keys[0] != 0:
            raise FFmpegFailed(f"the normalized picture of {shot} does not start on a "
                               f"key frame")
        shift = -first_dts
        if self.delay is None:
            self.delay = shift
        elif shift != self.delay:
            raise FFmpegFailed(f"the normalized picture of {shot} has another decode "
                               f"delay than the rest of its chapter")


def _load(target: Path, tables: dict, cached: bool) -> BuiltReel:
    return BuiltReel(target.stem, VideoReel(target.with_suffix(".h264"), tables["sizes"],
                                            tables["offsets"], tables["keys"], tables["crc"]),
                     bytes.fromhex(tables["avcc"]), tables["delay"], cached)


def _kept(target: Path) -> dict | None:
    """A cached reel's tables (sealed), if its samples beside them are all there (their
    bytes are checked against the tables' CRC-32 as the film is written from them)."""
    try:
        tables = json.loads(seal.unseal(target.read_bytes()))
        whole = target.with_suffix(".h264").stat().st_size == sum(tables["sizes"])
        int(tables["crc"])
    except (OSError, ValueError, KeyError, TypeError):  # seal.Broken is a ValueError
        return None
    return tables if whole else None


def _reel(line: Timeline, reel: Reel, segments: list[Path], target: Path) -> BuiltReel:
    """The reel whose tables are `target` (its samples beside it), read now unless cached."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        kept = _kept(target)
        if kept is not None:
            return _load(target, kept, cached=True)
        target.unlink(missing_ok=True)  # damaged on disk since it was written: read it again
    # Written beside and renamed, samples first: the tables never name missing samples.
    stem = f".partial-{os.getpid()}-{secrets.token_hex(4)}-{target.stem}"
    data = target.with_name(f"{stem}.h264")
    tables_file = target.with_name(f"{stem}.json")
    try:
        tables = _read(line, reel, segments, data)
        tables_file.write_bytes(seal.seal(json.dumps(tables).encode()))
        os.replace(data, target.with_suffix(".h264"))
        os.replace(tables_file, target)
    finally:
        data.unlink(missing_ok=True)
        tables_file.unlink(missing_ok=True)
    return _load(target, tables, cached=False)


def start(line: Timeline, segments: list[Path], cache: Path,
          ready: Callable[[int, int], Awaitable[None]] | None = None
          ) -> asyncio.Future[list[BuiltReel]]:
    """Each reel, in order, from the cache where its segments are unchanged, else read from
    them (in a thread: a segment is read by its own tables, little Python) as soon as they
    are made: `ready(i, j)` waits until the segments of entries i..j-1 are (as the sound's)."""
    jobs: list[asyncio.Future[BuiltReel]] = []
    for reel in plan(line):
        key = reel_key(line, reel, segments)
        target = cache / key[:2] / f"{key}.json"
        jobs.append(asyncio.ensure_future(_when_made(line, reel, segments, target, ready)))
    return asyncio.ensure_future(_all(jobs))


async def _when_made(line: Timeline, reel: Reel, segments: list[Path], target: Path,
                     ready: Callable[[int, int], Awaitable[None]] | None) -> BuiltReel:
    if ready is not None:  # a cached reel too: damaged, it is read again from its segments
        await ready(reel.first, reel.last)
    return await asyncio.to_thread(_reel, line, reel, segments, target)


async def _all(jobs: list[asyncio.Future[BuiltReel]]) -> list[BuiltReel]:
    try:
        built = list(await asyncio.gather(*jobs))
    except BaseException:
        await stopped(*jobs)
        raise
    firsts = {b.avcc for b in built}
    if len(firsts) > 1:
        raise FFmpegFailed("the chapters' pictures were encoded with different settings")
    if len({b.delay for b in built}) > 1:
        raise FFmpegFailed("the chapters' pictures have different decode delays")
    return built
