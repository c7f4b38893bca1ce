"""The segments: every entry of the timeline normalized (cached) to the segment its plan names;
a take that cannot be read becomes a slate and is reported. The work is normalize.py's, in
its worker processes.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

from studio import mediastore
from studio.app import Studio
from studio.cut import slates
from studio.cut.normalize import cache_key, normalize, segment_path, workers
from studio.cut.plan import BrokenTake, OnProgress, as_slate, draw_card
from studio.cut.timeline import Entry, Timeline
from studio.media import (
    FFmpegFailed,
)

log = logging.getLogger(__name__)


async def make_all(studio: Studio, line: Timeline, staging: Path, report: OnProgress,
                    planned: list[Path], made: list[asyncio.Future[None]], cache: Path
                    ) -> tuple[list[Path], list[BrokenTake], set[str]]:
    """Normalize every entry (cached) to its planned segment (whose name is its key); a take
    that fails becomes a slate and is reported. A card is drawn only when its segment is new:
    early in a production most shots are slates, and a 1080p card costs 36 ms to draw."""
    settings = studio.settings
    profile = line.profile
    done = 0
    encoded: set[str] = set()  # the segments made now (the rest came from the cache)
    broken: list[BrokenTake] = []
    limit = asyncio.Semaphore(workers())  # every worker busy, none queued behind

    async def card(entry: Entry, key: str) -> Path:
        png = staging / "cards" / f"{entry.code}.png"
        if not segment_path(cache, key).exists():
            await asyncio.to_thread(draw_card, line, entry, png.parent)
        seg = await normalize(cache, key, png, "image", False, entry.frames, profile)
        if not seg.cached:
            encoded.add(seg.path.name)
        return seg.path

    async def one(i: int, entry: Entry) -> Path:
        nonlocal done
        async with limit:
            try:
                if entry.kind != "take":
                    return await card(entry, planned[i].stem)
                assert entry.media_sha256 and entry.take_kind and entry.take_id
                source = mediastore.path_for(settings.media_path, entry.media_sha256)
                key = planned[i].stem
                try:
                    if not source.exists():
                        raise FFmpegFailed("its file is missing from the media store")
                    seg = await normalize(cache, key, source, entry.take_kind,
                                                    entry.media_has_audio, entry.frames, profile)
                    # A new segment was decode-checked by the worker that made it.
                    if not seg.cached:
                        encoded.add(seg.path.name)
                    return seg.path
                except FFmpegFailed as exc:
                    reason = short_reason(str(exc), settings.data_dir)
                    broken.append(BrokenTake(entry.code, entry.take_id, entry.owner,
                                             entry.creator, reason, entry.owner_id))
                    log.warning("take %s of shot %s broke the cut: %s", entry.take_id,
                                entry.code, reason)
                    slate = as_slate(entry, broken[-1])
                    return await card(slate, cache_key(
                        slates.slate_key(slate, profile), "image", entry.frames, profile))
            finally:
                done += 1
                if not made[i].done():
                    made[i].set_result(None)  # made, or a slate now (the sound starts over)
                report("normalizing", done / len(line.entries))

    paths = await asyncio.gather(*(one(i, e) for i, e in enumerate(line.entries)))
    return list(paths), broken, encoded



def short_reason(text: str, data_dir: Path | None = None) -> str:
    """ffmpeg's complaint without paths: they say nothing to the take's owner."""
    # A path ends at a space or a quote: the quotes around it are kept, '…'.
    if data_dir is not None:
        for known in {str(data_dir.resolve()), str(data_dir)}:
            text = re.sub(re.escape(known) + r"[^\s'\"]*", "…", text)
    text = re.sub(r"/[^\s'\"]+", "…", text)
    return text.strip()[:160] or "ffmpeg could not read it"
