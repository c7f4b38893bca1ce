"""The film's picture a reel at a time: a reel is one run's segments (a chapter, or the credits)
joined by stream copy, cached by the segments it holds.

The film then joins a dozen reels rather than hundreds of segments, so the night after one
approval rejoins one chapter's segments and the reels, and re-encodes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
from pathlib import Path

import av

from studio.media import FFmpegFailed, ffmpeg_version, run_ffmpeg, write_concat_list
from studio.soundtrack import Run
from studio.timeline import Timeline

# Bump when the command below changes: old cached reels then stop matching.
RECIPE = "1"


def reel_key(line: Timeline, run: Run, segments: list[Path]) -> str:
    text = json.dumps([RECIPE, ffmpeg_version(), line.profile.key,
                       [s.name for s in segments[run.first:run.last]]])
    return hashlib.sha256(text.encode()).hexdigest()


def _pictures(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for p in container.demux(video=0) if p.size)


def _ready(target: Path) -> bool:
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.exists()


async def _reel(line: Timeline, run: Run, segments: list[Path], target: Path) -> bool:
    """The reel at `target`, joined now unless cached; True when it came from the cache."""
    if _ready(target):
        return True
    # Written beside and renamed: a killed build leaves no half-made reel under its name.
    stem = f".partial-{os.getpid()}-{secrets.token_hex(4)}-{target.stem}"
    partial = target.with_name(f"{stem}.mov")
    listing = target.with_name(f"{stem}.txt")
    try:
        write_concat_list(segments[run.first:run.last], listing)
        await run_ffmpeg(["-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing),
                          "-map", "0:v:0", "-c", "copy",
                          "-video_track_timescale", str(line.profile.timescale),
                          "-f", "mov", str(partial)])
        frames = sum(e.frames for e in line.entries[run.first:run.last])
        found = await asyncio.to_thread(_pictures, partial)
        if found != frames:
            raise FFmpegFailed(f"a reel holds {found} frames, not {frames}")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
        listing.unlink(missing_ok=True)
    return False


async def build(line: Timeline, runs: list[Run], segments: list[Path], cache: Path
                ) -> list[tuple[Path, bool]]:
    """Each run's reel and whether it was cached, in order."""
    targets = []
    for run in runs:
        key = reel_key(line, run, segments)
        targets.append(cache / key[:2] / f"{key}.mov")
    limit = asyncio.Semaphore(max(2, os.cpu_count() or 2))

    async def one(run: Run, target: Path) -> tuple[Path, bool]:
        async with limit:
            return target, await _reel(line, run, segments, target)

    tasks = [asyncio.ensure_future(one(r, t)) for r, t in zip(runs, targets, strict=True)]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
