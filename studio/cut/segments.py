"""The segments: every entry of the timeline normalized (cached) to the segment its plan names;
a take that cannot be read becomes a slate and is reported. The work is normalize.py's, in
its worker processes, a batch of consecutive segments a trip.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from studio import mediastore
from studio.app import Studio
from studio.cut import slates
from studio.cut.normalize import Wanted, cache_key, normalize_batch, segment_path, workers
from studio.cut.plan import BrokenTake, OnProgress, as_slate, draw_card
from studio.cut.timeline import Entry, Timeline
from studio.media import (
    FFmpegFailed,
)
from studio.waiting import stopped

log = logging.getLogger(__name__)

# A batch's pictures at most (four seconds at 24 fps): enough short segments a trip to spare
# the pool most of its round trips, few enough that the chapters' sound starts soon.
MOST_FRAMES = 96


@dataclass
class _Want:
    """A segment to make, and the timeline entries that show it (a take used twice: once)."""

    wanted: Wanted
    entries: list[int] = field(default_factory=list)
    card: Entry | None = None  # a card (slate, credits) to draw before it is made


async def make_all(studio: Studio, line: Timeline, staging: Path, report: OnProgress,
                    planned: list[Path], made: list[asyncio.Future[None]], cache: Path
                    ) -> tuple[list[Path], list[BrokenTake], set[str]]:
    """Normalize every entry (cached) to its planned segment (whose name is its key); a take
    that fails becomes a slate and is reported. The cached ones are passed over first; the
    rest go to the workers in batches of consecutive entries, smaller towards the end so that
    every worker stays busy to the last. A card is drawn only when its segment is new: early
    in a production most shots are slates, and a 1080p card costs 36 ms to draw."""
    settings = studio.settings
    profile = line.profile
    cards = staging / "cards"
    paths = list(planned)
    encoded: set[str] = set()  # the segments made now (the rest came from the cache)
    broken: list[BrokenTake] = []
    queue: deque[_Want] = deque()
    wanted: dict[str, _Want] = {}  # by key: each segment made once
    done = 0

    def finished(i: int, path: Path, new: bool) -> None:
        nonlocal done
        paths[i] = path
        if new:
            encoded.add(path.name)
        done += 1
        if not made[i].done():
            made[i].set_result(None)  # made, or a slate now (the sound starts over)
        report("normalizing", done / len(line.entries))

    def want(i: int, key: str, present: bool, source: Path, kind: str, has_audio: bool,
             card: Entry | None = None, first: bool = False) -> None:
        if present:
            finished(i, segment_path(cache, key), False)
        elif key in wanted:
            wanted[key].entries.append(i)
        else:
            wanted[key] = _Want(Wanted(key, source, kind, has_audio, line.entries[i].frames),
                                [i], card)
            (queue.appendleft if first else queue.append)(wanted[key])

    def broke(i: int, reason: str) -> None:
        entry = line.entries[i]
        assert entry.take_id is not None
        reason = short_reason(reason, settings.data_dir)
        broken.append(BrokenTake(entry.code, entry.take_id, entry.owner, entry.creator,
                                 reason, entry.owner_id))
        log.warning("take %s of shot %s broke the cut: %s", entry.take_id, entry.code, reason)
        slate = as_slate(entry, broken[-1])
        key = cache_key(slates.slate_key(slate, profile), "image", entry.frames, profile)
        # First in the queue: its chapter's sound waits for it.
        want(i, key, _exists(segment_path(cache, key)), cards / f"{slate.code}.png", "image",
             False, card=slate, first=True)

    sources = [mediastore.path_for(settings.media_path, e.media_sha256)
               if e.kind == "take" and e.media_sha256 else None for e in line.entries]
    present = _all_present(planned)
    original = _all_present(sources)
    for i, entry in enumerate(line.entries):
        key, source = planned[i].stem, sources[i]
        if entry.kind != "take":
            want(i, key, present[i], cards / f"{entry.code}.png", "image", False, card=entry)
            continue
        assert source and entry.take_kind and entry.take_id
        if not original[i]:  # even if its segment is cached: the hand-off needs the original
            broke(i, "its file is missing from the media store")
            continue
        want(i, key, present[i], source, entry.take_kind, entry.media_has_audio)

    async def runner() -> None:
        while queue:
            batch = _next_batch(queue)
            drawn = [w.card for w in batch if w.card is not None]
            if drawn:
                await asyncio.to_thread(_draw, line, drawn, cards)
            results = await normalize_batch(cache, profile, [w.wanted for w in batch])
            for w, result in zip(batch, results, strict=True):
                del wanted[w.wanted.key]
                if isinstance(result, FFmpegFailed):
                    if w.card is not None:
                        raise result  # a card we drew: the build's fault, not a take's
                    for i in w.entries:
                        broke(i, str(result))  # its slate is queued first: made next
                    continue
                for i in w.entries:
                    finished(i, result.path, not result.cached)

    # One runner a worker: a runner whose batch is in a worker waits for it; the others send
    # theirs. The one that queues a slate goes on until the queue is empty.
    runners = [asyncio.create_task(runner()) for _ in range(workers())]
    try:
        await asyncio.gather(*runners)
    except BaseException:
        await stopped(*runners)
        raise
    return paths, broken, encoded


def _next_batch(queue: deque[_Want]) -> list[_Want]:
    """The next consecutive entries: at most MOST_FRAMES pictures, and at most a sixth of
    what is left for each worker, so that the last batches are small and end together."""
    left = sum(w.wanted.frames for w in queue)
    budget = min(MOST_FRAMES, left // (2 * workers()))
    batch = [queue.popleft()]
    frames = batch[0].wanted.frames
    while queue and frames + queue[0].wanted.frames <= budget:
        frames += queue[0].wanted.frames
        batch.append(queue.popleft())
    return batch


def _draw(line: Timeline, cards: list[Entry], folder: Path) -> None:
    for card in cards:
        draw_card(line, card, folder)


def _all_present(paths: list[Path | None]) -> list[bool]:
    return [path is not None and path.exists() for path in paths]


def _exists(path: Path) -> bool:
    return path.exists()


def short_reason(text: str, data_dir: Path | None = None) -> str:
    """ffmpeg's complaint without paths: they say nothing to the take's owner."""
    # A path ends at a space or a quote: the quotes around it are kept, '…'.
    if data_dir is not None:
        for known in {str(data_dir.resolve()), str(data_dir)}:
            text = re.sub(re.escape(known) + r"[^\s'\"]*", "…", text)
    text = re.sub(r"/[^\s'\"]+", "…", text)
    return text.strip()[:160] or "ffmpeg could not read it"
