"""Normalize one segment of the cut to the production's profile, once, cached on disk.

Every segment comes out identical in form (H.264 yuv420p BT.709 limited range, square
pixels, the profile's size and rational frame rate, PCM stereo 48 kHz, exact frame and sample
counts), so segments join with stream copy. The cache key is (source hash, profile, length,
recipe, libav version): only a changed shot is re-encoded the next night.

The work is done in-process through PyAV (studio/segment_encode.py) in a warm pool of worker
processes: user uploads are decoded there, so a libav crash on a hostile file costs one worker
and that take, never the bot.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import logging
import multiprocessing
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import av

from studio.cut.segment_encode import Job, Outcome, Shape, make_batch, start_worker, watch_parent
from studio.cut.timeline import Profile
from studio.media import (
    FFmpegFailed,
)
from studio.ops import closing
from studio.waiting import within

# Bump when the making of a segment changes: old cache entries then stop matching.
RECIPE = "7-synced"  # 7: the sound starts at the picture's first frame, not at its own

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_discarded: weakref.WeakSet[ProcessPoolExecutor] = weakref.WeakSet()
log = logging.getLogger(__name__)


class WorkersUnavailable(RuntimeError):
    """No worker process can start: the machine's fault, not any take's."""


@dataclass(frozen=True)
class Segment:
    path: Path
    cached: bool


def libav_version() -> str:
    """The libraries that make the segments: part of every segment's cache key."""
    return f"PyAV {av.__version__} FFmpeg {av.ffmpeg_version_info}"


def cache_key(source_sha256: str, kind: str, frames: int, profile: Profile) -> str:
    text = "|".join([RECIPE, source_sha256, kind, str(frames), profile.key, libav_version()])
    return hashlib.sha256(text.encode()).hexdigest()


def _context() -> multiprocessing.context.ForkServerContext:
    # forkserver: workers fork from a clean server that has PyAV loaded, never from the bot.
    ctx = multiprocessing.get_context("forkserver")
    # The editor's hand-off is written from there too: OpenTimelineIO loaded once.
    ctx.set_forkserver_preload(["studio.cut.segment_encode", "studio.cut.editorial"])
    return ctx


def _new_pool(size: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=size, mp_context=_context(),
                               initializer=start_worker, initargs=(os.getpid(),))


def passing_pool(size: int) -> ProcessPoolExecutor:
    """Worker processes for one job, shut down after it: what the job held leaves with them
    (a feature film's editorial timelines take a worker from 60 to 165 MiB, which a segment
    worker would keep for the bot's lifetime)."""
    return ProcessPoolExecutor(max_workers=size, mp_context=_context(),
                               initializer=watch_parent, initargs=(os.getpid(),))


def workers() -> int:
    """The pool's size: one beyond the cores. The editorial files' two halves start with every
    build, and the one segment of a one-approval night must not queue behind them; in a full
    build the segments keep every worker busy (cut._segments keeps this many in flight)."""
    return (os.cpu_count() or 2) + 1


def pool() -> ProcessPoolExecutor:
    """The warm pool, created on first use (or by warm()) and kept across builds."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = _new_pool(workers())
        return _pool


WARM_ROUNDS = 8  # rounds of one task a worker; one is enough unless the machine is busy


async def warm() -> None:
    """Start every worker of the pool now; each rehearses a tiny segment as it starts
    (segment_encode.start_worker), so the first cut after start-up waits for none of it."""
    executor = pool()
    try:
        # A process starts per task submitted while none is idle: one task each. A worker
        # that has started and answered before the last task is submitted takes it instead
        # (a busy machine), so the round is repeated until every worker is there. Submitted
        # from a thread: the first start waits for the fork server, not the bot's loop.
        for _ in range(WARM_ROUNDS):
            started = await asyncio.to_thread(
                lambda: [executor.submit(os.getpid) for _ in range(workers())])
            await asyncio.gather(*(asyncio.wrap_future(f) for f in started))
            if len(worker_pids()) >= workers():
                break
    except BrokenProcessPool:
        await asyncio.to_thread(_discard, executor)  # the first cut then tries a fresh one
        raise


def start_warming() -> asyncio.Task[None]:
    """warm() in the background: start-up never waits for it, and its failure is only logged
    (the first cut then starts the workers itself, or says why it cannot)."""
    task = asyncio.get_running_loop().create_task(warm(), name="warm segment workers")
    task.add_done_callback(_warmed)
    return task


def _warmed(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    failure = task.exception()
    if failure is not None:
        log.warning("the segment workers could not be started ahead of the first cut",
                    exc_info=failure)


def _discard(broken: ProcessPoolExecutor) -> None:
    """Forget a broken pool (whoever notices first); the next call makes a new one."""
    global _pool
    with _lock:
        if broken in _discarded:
            return  # another segment of the same crash is shutting it down
        _discarded.add(broken)
        if _pool is broken:
            _pool = None
    broken.shutdown(wait=True, cancel_futures=True)  # twice at once closes its pipes twice


def shutdown() -> None:
    """Stop the pool's workers (the Studio closing, or the interpreter exiting)."""
    global _pool
    with _lock:
        current, _pool = _pool, None
    if current is not None:
        current.shutdown(wait=True, cancel_futures=True)


atexit.register(shutdown)
closing.at_close(shutdown)  # a closing studio stops the workers too


def worker_pids() -> list[int]:
    """The pool's live worker processes (for health checks and tests)."""
    with _lock:
        current = _pool
    # The executor keeps its processes privately; reading them is the only way to know them.
    processes = dict(getattr(current, "_processes", None) or {})
    return [pid for pid, proc in processes.items() if proc.is_alive()]


def segment_path(cache_dir: Path, key: str) -> Path:
    """Where the segment for `key` is kept (whether made yet or not)."""
    return Path(f"{cache_dir}/{key[:2]}/{key}.mov")  # one Path made: asked of every entry


def shape_of(profile: Profile, frames: int) -> Shape:
    return Shape(profile.width, profile.height, profile.fps, profile.timescale, frames,
                 profile.samples(frames))


@dataclass(frozen=True)
class Wanted:
    """A segment asked for: its cache key, and the take (or card) it is made from."""

    key: str
    source: Path
    kind: str
    has_audio: bool
    frames: int


CRASHED = "decoding it crashed the worker process: the file is damaged or hostile"
HUNG = "decoding it did not finish in time: the file is damaged or hostile"

# A batch running longer than this is stopped (its worker killed): a take that hangs libav must
# not hold the build, and the production's build lock, forever. Far above a normal batch's
# time on a slow, busy machine; counted from when a worker takes the batch, not from queueing.
HANG_BASE_S = 120.0
HANG_PER_FRAME_S = 0.1
_HANG_POLL_S = 0.5


class Hung(BrokenProcessPool):
    """The pool broken on purpose: a batch ran past its deadline and its workers were killed."""


def deadline(jobs: Sequence[Job]) -> float:
    """Seconds a batch may run once a worker has it."""
    return HANG_BASE_S + HANG_PER_FRAME_S * sum(job.shape.frames for job in jobs)


async def _run(executor: ProcessPoolExecutor, jobs: list[Job]) -> list[Outcome]:
    future = asyncio.wrap_future(done := executor.submit(make_batch, jobs))
    allowed, started = deadline(jobs), None
    loop = asyncio.get_running_loop()
    while True:
        try:
            return await within(asyncio.shield(future), _HANG_POLL_S)
        except asyncio.CancelledError:
            future.cancel()  # as an unshielded wait would: a batch not yet started never runs
            raise
        except TimeoutError:
            if started is None and done.running():
                started = loop.time()
            if started is not None and loop.time() - started > allowed:
                break
    log.warning("a segment batch ran past %.0f s: its worker processes are stopped", allowed)
    # ProcessPoolExecutor has no way to stop one call: its processes (private, read as
    # worker_pids() reads them) are killed, and the pool breaks as it does on a crash.
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        process.kill()
    try:
        return await future
    except BrokenProcessPool:
        raise Hung(HUNG) from None


async def normalize(
    cache_dir: Path, key: str, source: Path, kind: str, has_audio: bool, frames: int,
    profile: Profile, on_progress: Callable[[float], None] | None = None,
) -> Segment:
    """The cached segment for `key`, made from `source` when absent (written beside, renamed;
    the worker makes its folder).

    Raise FFmpegFailed with a short reason (no paths) when the source cannot be made into one,
    including when decoding it kills the worker process.
    """
    made = (await normalize_batch(cache_dir, profile,
                                  [Wanted(key, source, kind, has_audio, frames)]))[0]
    if isinstance(made, FFmpegFailed):
        raise made
    if on_progress:
        on_progress(1.0)
    return made


async def normalize_batch(cache_dir: Path, profile: Profile, wanted: Sequence[Wanted]
                          ) -> list[Segment | FFmpegFailed]:
    """Each wanted segment from the cache, the missing ones made by one worker in one trip
    (segment_encode.make_batch); a take that cannot be made gets its FFmpegFailed (a short
    reason, no paths) and the others are made all the same. A take that kills the worker costs
    only itself: the batch's segments not yet made are then made one at a time, alone."""
    found: list[Segment | FFmpegFailed | None] = [None] * len(wanted)
    jobs: list[Job] = []
    slots: list[int] = []
    for slot, want in enumerate(wanted):
        target = segment_path(cache_dir, want.key)
        if target.exists():
            found[slot] = Segment(target, cached=True)
            continue
        jobs.append(Job(str(want.source), want.kind, want.has_audio,
                        shape_of(profile, want.frames), str(target)))
        slots.append(slot)
    if jobs:
        crashed = False
        try:
            executor = pool()
            try:
                outcomes = await _run(executor, jobs)
            except BrokenProcessPool:
                # A worker died: a take of this batch, or of another beside it. Alone, one
                # at a time, each take shows whether it is the one that kills.
                crashed = True
                await asyncio.to_thread(_discard, executor)
                outcomes = await _alone(jobs)
        except BaseException:
            for job in jobs:
                _sweep(Path(job.target))
            raise
        for slot, job, outcome in zip(slots, jobs, outcomes, strict=True):
            if crashed:
                _sweep(Path(job.target))
            found[slot] = (FFmpegFailed(outcome) if isinstance(outcome, str)
                           else Segment(Path(job.target), cached=not outcome))
    return [f for f in found if f is not None]


async def _alone(jobs: list[Job]) -> list[Outcome]:
    """Each job not made yet, in a solitary worker: one that dies names its take (a fresh
    worker then takes the next). A segment already in place was made by the broken batch."""
    outcomes: list[Outcome] = []
    solitary: ProcessPoolExecutor | None = None
    try:
        for job in jobs:
            if _in_place(job):
                outcomes.append(True)  # made (the batch skipped what was cached before it)
                continue
            if solitary is None:
                solitary = await _solitary()
            try:
                outcomes += await _run(solitary, [job])
            except BrokenProcessPool as exc:
                outcomes.append(HUNG if isinstance(exc, Hung) else CRASHED)
                broken, solitary = solitary, None
                await asyncio.to_thread(broken.shutdown, True, cancel_futures=True)
    finally:
        if solitary is not None:
            await asyncio.to_thread(solitary.shutdown, True, cancel_futures=True)
    return outcomes


async def _solitary() -> ProcessPoolExecutor:
    """A pool of one worker, started: a worker that cannot even start is the machine's fault."""
    solitary = _new_pool(1)
    try:
        await asyncio.wrap_future(solitary.submit(os.getpid))
    except BrokenProcessPool:
        await asyncio.to_thread(solitary.shutdown, True, cancel_futures=True)
        raise WorkersUnavailable("the segment worker processes cannot start") from None
    return solitary


def _in_place(job: Job) -> bool:
    return Path(job.target).exists()


def _sweep(target: Path) -> None:
    """Remove what a dead worker left half-written for `target` (its pid is in the name)."""
    for partial in target.parent.glob(f".partial-*-{target.name}"):
        pid = partial.name.split("-")[1]
        if pid.isdigit() and not _alive(int(pid)):
            partial.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


log = logging.getLogger(__name__)
