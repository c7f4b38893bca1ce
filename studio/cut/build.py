"""The build: one cut made, verified and published, its stages called in order.

A build holds the lock, plans (plan.py), makes the segments (segments.py), starts the sound
(soundtrack.py) beside them, writes and verifies the film (film.py) from the reels (reels.py),
then publishes it (publish.py) with its changelog (changelog.py); the editor's hand-off
(handoff.py) is written after, so the night's film waits for none of it. A failed or
interrupted build never touches the last good cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import fcntl
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage import audit, cuts
from storage.cuts import Cut
from storage.productions import Production
from studio import mediastore
from studio.app import Studio
from studio.cut import editorial, handoff, layout, publish, reels, soundtrack
from studio.cut.changelog import changelog
from studio.cut.film import FILM, stitch, verify
from studio.cut.film import preview as make_preview
from studio.cut.plan import BrokenStem, BrokenTake, OnProgress, as_slate, segment_paths, timeline_of
from studio.cut.publish import cut_dir, film_link, point_latest, retain, write_record
from studio.cut.segments import make_all, short_reason
from studio.cut.timeline import Timeline
from studio.errors import InvalidInput, SlateError
from studio.media import (
    CacheDamaged,
)
from studio.ops.settings import Settings
from studio.waiting import stopped

log = logging.getLogger(__name__)



class CutBusy(SlateError):
    """Another build of the cut is running (in this process or another)."""



class CutFailed(SlateError):
    """The build did not produce a film that passed verification."""



@dataclass
class _Attempts:
    """What a build's attempts share: a retry (a damaged cache entry) counts on from the
    first, and records nothing twice."""

    encoded: set[str] = field(default_factory=set)  # segments made, by any attempt
    audited: set[int] = field(default_factory=set)  # broken takes recorded



@dataclass
class BuildStatus:
    """What a running build is doing, for /cut status and the shell's progress line."""

    version: int
    stage: str = "starting"
    fraction: float = 0.0
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    timings: dict[str, float] = field(default_factory=dict)  # seconds spent in each stage
    _mark: float = field(default_factory=time.perf_counter)

    def enter(self, stage: str, fraction: float) -> None:
        if stage != self.stage:
            now = time.perf_counter()
            self.timings[self.stage] = self.timings.get(self.stage, 0.0) + now - self._mark
            self._mark = now
        self.stage, self.fraction = stage, fraction



@dataclass(frozen=True)
class CutResult:
    cut: Cut
    directory: Path
    film: Path
    preview: Path | None
    editorial: dict[str, Path]
    changelog: str
    credits: Path
    encoded: int  # distinct picture segments encoded (the rest came from the cache)
    reused: int
    sound_encoded: int  # sound cache entries (pieces' tracks, loudness) made now
    sound_reused: int
    broken: list[BrokenTake]
    timeline: Timeline
    timings: dict[str, float]
    broken_stems: list[BrokenStem] = field(default_factory=list)
    # The editor's package, being written once the cut is published (its folder when done).
    handoff: asyncio.Future[Path] | None = None



RUNNING: dict[int, BuildStatus] = {}



@contextlib.contextmanager
def build_lock(settings: Settings, production_id: int) -> Iterator[None]:
    """One build of a production at a time, across processes too (the bot and a shell `cut`);
    two productions build side by side."""
    lock = layout.lock_path(settings, production_id)
    lock.parent.mkdir(parents=True, exist_ok=True)
    handle = lock.open("a")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CutBusy("a cut is already being built; try /cut status") from None
        yield
    finally:
        handle.close()



async def at_start(studio: Studio) -> None:
    """At start-up: the earlier shared layout moved into productions' folders, each cut a
    crash left finished but unrecorded published (a production building now does it itself),
    and each latest cut's package written if the bot stopped before it was."""
    await publish.upgrade_layout(studio)
    for production_id in await cuts.production_ids(studio.db.reader):
        if not layout.cuts_home(studio.settings, production_id).is_dir():
            continue
        try:
            with build_lock(studio.settings, production_id):
                await publish.recover(studio, production_id)
        except CutBusy:
            continue
        latest = await cuts.latest(studio.db.reader, production_id)
        if latest is not None:
            handoff.resume(studio, production_id, latest.version)



def last_scheduled(settings: Settings, at: datetime) -> datetime:
    """The most recent nightly time at or before `at`, in the production's zone."""
    local = at.astimezone(settings.zone)
    today = local.replace(hour=settings.cut_time.hour, minute=settings.cut_time.minute,
                          second=0, microsecond=0)
    return today if today <= local else today - timedelta(days=1)



async def nightly_missed(studio: Studio, prod: Production, at: datetime | None = None) -> bool:
    """True when the last nightly time passed with no build started since (bot was down)."""
    at = at or datetime.now(UTC)
    scheduled = last_scheduled(studio.settings, at)
    last = await cuts.latest(studio.db.reader, prod.id, state=None)
    # A production set up after the last nightly time has missed nothing yet.
    since = last.started_at if last is not None else prod.created_at
    return _instant(since) < scheduled



def _instant(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))



async def status(studio: Studio, prod: Production) -> tuple[BuildStatus | None, Cut | None]:
    """The running build, if any, and the latest published cut."""
    return RUNNING.get(prod.id), await cuts.latest(studio.db.reader, prod.id)



async def history(studio: Studio, prod: Production, limit: int = 20) -> list[Cut]:
    return await cuts.recent(studio.db.reader, prod.id, limit)



async def nightly(studio: Studio, prod: Production,
                  on_progress: OnProgress | None = None) -> CutResult | None:
    """The nightly build: skipped (None) when nothing changed since the last published cut."""
    line = await timeline_of(studio, prod)
    last = await cuts.latest_timeline(studio.db.reader, prod.id)
    text = line.to_text()
    if not line.shots or (last is not None and json.loads(last[1]) == [] and last[0] == text):
        return None
    # Planned once: the build takes this timeline and its text, not a second reading.
    return await build(studio, prod, trigger="nightly", on_progress=on_progress,
                       planned=(line, text))



async def build(studio: Studio, prod: Production, *, trigger: str = "manual",
                on_progress: OnProgress | None = None,
                planned: tuple[Timeline, str] | None = None) -> CutResult:
    """Build, verify and publish the next cut; raise CutBusy or CutFailed (nothing replaced).
    `planned`: the production's timeline and its text, when the caller has just read it."""
    settings = studio.settings
    await publish.upgrade_layout(studio)
    with build_lock(settings, prod.id):
        # A cut finished before a crash but never recorded is published, not deleted.
        await publish.recover(studio, prod.id)
        # The previous cut's package is still being written: it finishes first.
        await handoff.settle(layout.cuts_home(settings, prod.id))
        await publish.settle(layout.cuts_home(settings, prod.id))  # last build's retired cuts
        line, text = planned or await _planned(studio, prod)
        if not line.shots:
            raise InvalidInput("the production has no shots yet: import a shot list first")
        async with studio.db.transaction() as tx:
            await cuts.abandon_stale(tx, prod.id)
        for stale in layout.cuts_home(settings, prod.id).glob(".building-*"):
            shutil.rmtree(stale, ignore_errors=True)
        async with studio.db.transaction() as tx:
            cut = await cuts.start(tx, prod.id, trigger)
        state = RUNNING[prod.id] = BuildStatus(cut.version)

        def report(stage: str, fraction: float) -> None:
            state.enter(stage, fraction)
            if on_progress:
                on_progress(stage, fraction)

        staging = layout.staging_dir(settings, prod.id, cut.version)
        try:
            attempts = _Attempts()
            try:
                result = await _build(studio, prod, cut, line, text, staging, report, attempts)
            except CacheDamaged as damaged:
                # Checked when it was made, so the disk damaged it since: made again, once.
                log.warning("cut %s: %s; making it again", cut.version, damaged.reason)
                with contextlib.suppress(FileNotFoundError):
                    os.remove(damaged.path)
                shutil.rmtree(staging, ignore_errors=True)
                result = await _build(studio, prod, cut, line, text, staging, report, attempts)
        except BaseException as exc:
            shutil.rmtree(staging, ignore_errors=True)
            verdict = _verdict(exc, settings)
            with contextlib.suppress(Exception):
                async with studio.db.transaction() as tx:
                    await cuts.fail(tx, cut.id, verdict)
            if isinstance(exc, SlateError | asyncio.CancelledError | KeyboardInterrupt):
                raise
            log.exception("cut %s failed", cut.version)
            raise CutFailed(f"cut {cut.version} failed: {verdict}"[:300]) from exc
        finally:
            RUNNING.pop(prod.id, None)
        retain(settings, prod.id, await cuts.published_versions(studio.db.reader, prod.id))
        from studio.ops import metrics

        metrics.cut_built((datetime.now(UTC) - state.started).total_seconds())
        return result



def _verdict(exc: BaseException, settings: Settings) -> str:
    """Why a build failed, in words a producer can act on (posted, so no paths)."""
    if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt):
        return "interrupted"
    reason = getattr(exc, "reason", None)  # a SlateError's, written for its reader
    if isinstance(reason, str) and reason:
        return reason
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "the disk holding the data directory is full"
    if isinstance(exc, OSError) and exc.strerror:  # the file's name, not where it is
        name = Path(os.fsdecode(exc.filename)).name if exc.filename else ""
        return exc.strerror + (f" ({name})" if name else "")
    return short_reason(f"{type(exc).__name__}: {exc}", settings.data_dir)



async def _planned(studio: Studio, prod: Production) -> tuple[Timeline, str]:
    line = await timeline_of(studio, prod)
    return line, line.to_text()



async def _build(studio: Studio, prod: Production, cut: Cut, line: Timeline, text: str,
                 staging: Path, report: OnProgress, attempts: _Attempts) -> CutResult:
    settings = studio.settings
    os.makedirs(staging)
    report("normalizing", 0.0)
    cache = layout.cache_home(settings, prod.id)
    planned = await segment_paths(studio, line, cache / "segments")
    stem_files = [mediastore.path_for(settings.media_path, s.media_sha256) for s in line.stems]
    loop = asyncio.get_running_loop()
    made = [loop.create_future() for _ in line.entries]  # set as each entry's segment is made

    async def ready(first: int, last: int) -> None:
        for segment in made[first:last]:
            await segment

    # The sound starts with the segments: each chapter is measured, and its pieces encoded,
    # once the segments it hears are made.
    sound = _sound(studio, prod, line, planned, stem_files, report, ready)
    # So do the reels: each chapter's is read once its segments are made.
    picture = reels.start(line, planned, cache / "reels", ready)
    try:
        segments, broken, encoded = await make_all(studio, line, staging, report, planned,
                                                    made, cache / "segments")
        attempts.encoded |= encoded
    except BaseException:
        await stopped(sound, picture)
        raise
    shutil.rmtree(staging / "cards", ignore_errors=True)  # drawn to be encoded; now in segments
    if broken:
        # A broken take is a slate now: the sound and the reels are made again.
        await stopped(sound, picture)
        line = dataclasses.replace(line, entries=[
            as_slate(e, next(b for b in broken if b.take_id == e.take_id))
            if any(b.take_id == e.take_id for b in broken) else e for e in line.entries])
        fresh = [b for b in broken if b.take_id not in attempts.audited]
        async with studio.db.transaction() as tx:
            for b in fresh:
                await audit.record(tx, prod.id, None, "take", b.take_id, "cut_failed",
                                   after={"cut": cut.version, "shot": b.code,
                                          "reason": b.reason})
        attempts.audited.update(b.take_id for b in fresh)
        sound = _sound(studio, prod, line, segments, stem_files, report, None)
        picture = reels.start(line, segments, cache / "reels")
    film = staging / FILM
    left_out: list[BrokenStem] = []
    try:
        while True:
            try:
                runs, written = await stitch(line, segments, staging, film, report, sound,
                                           picture)
                break
            except soundtrack.StemUnreadable as exc:
                # Left out of this cut, as a broken take is a slate: the sound and the reels
                # start over without it.
                left_out.append(_broken_stem(line, exc))
                log.warning("chapter %s's %s stem broke the cut: %s", exc.stem.chapter_number,
                            exc.stem.kind, exc.reason)
                kept = [k for k, s in enumerate(line.stems) if s != exc.stem]
                line = dataclasses.replace(line, stems=[line.stems[k] for k in kept])
                stem_files = [stem_files[k] for k in kept]
                sound = _sound(studio, prod, line, segments, stem_files, report, None)
                picture = reels.start(line, segments, cache / "reels")
        report("verifying", 0.0)
        verdict = await verify(film, line, soundtrack.frames_total(runs), written)
        if verdict:
            raise CutFailed(f"cut {cut.version} did not verify: {verdict}")
        report("preview", 0.0)
        preview = await make_preview(settings, film, staging, line)
    finally:
        # Workers cannot be stopped: wait for them before the staging folder is removed.
        await asyncio.gather(sound, picture, return_exceptions=True)
    sound_encoded, sound_reused = soundtrack.counts(runs)
    # Counted by name over every attempt: a retry finds the first attempt's segments cached.
    used = {p.name for p in segments}
    made_now = len(used & attempts.encoded)
    credits = staging / "credits.txt"
    credits.write_text("\n".join(f"{r}: {n}" if r else n for r, n in line.credits) + "\n",
                       encoding="utf-8")
    report("publishing", 0.0)
    previous = await cuts.latest(studio.db.reader, prod.id)
    log_text = changelog(line, previous, cut.version, broken, left_out)
    (staging / "changelog.md").write_text(log_text, encoding="utf-8")
    if broken or left_out:  # the film's timeline is not the one planned
        text = line.to_text()
    # Publish: the folder appears whole under its version name with what its row will say
    # (publish.recover finishes the job if we crash now), then the row, then `latest`.
    final = cut_dir(settings, prod.id, cut.version)
    record = dict(duration=line.duration, verdict="verified",
                  changelog=log_text, shots_total=len(line.shots),
                  shots_approved=len(line.approved),
                  broken=[dataclasses.asdict(b) for b in [*broken, *left_out]])
    write_record(staging, record, text)
    os.replace(staging, final)
    async with studio.db.transaction() as tx:
        await cuts.publish(tx, cut.id, path=str(final), timeline=text, **record)
        await audit.record(tx, prod.id, None, "cut", cut.id, "publish",
                           after={"version": cut.version, "duration": round(line.duration, 3)})
    point_latest(settings, final)
    done = await cuts.get(studio.db.reader, cut.id)
    assert done is not None
    report("published", 1.0)
    package = handoff.start(studio, final, line, segments, stem_files, handoff.gains_of(runs),
                            cut.version, prod.id)
    return CutResult(done, final, final / FILM,
                     final / preview.name if preview else None,
                     editorial.files(final / handoff.HANDOFF), log_text,
                     final / credits.name, made_now, len(used) - made_now, sound_encoded,
                     sound_reused, broken, line, RUNNING[prod.id].timings, left_out, package)



def _broken_stem(line: Timeline, lost: soundtrack.StemUnreadable) -> BrokenStem:
    """The stem that could not be read, with its chapter's owner (who uploads it again)."""
    number = lost.stem.chapter_number
    owner = next((e for e in line.entries if e.chapter_number == number and e.kind != "credits"),
                 None)
    return BrokenStem(number, lost.stem.kind, owner.owner if owner else "", lost.reason,
                      owner.owner_id if owner else None)



def _sound(studio: Studio, prod: Production, line: Timeline, segments: list[Path],
           stem_files: list[Path], report: OnProgress, ready: soundtrack.Ready | None
           ) -> asyncio.Future[list[soundtrack.Sound | soundtrack.Measured]]:
    """The sound, being made (soundtrack.build); its progress shown once the segments are."""
    def progress(fraction: float) -> None:
        state = RUNNING.get(prod.id)
        if state is not None and state.stage != "normalizing":
            report("mixing", fraction)

    return asyncio.ensure_future(soundtrack.build(
        line, segments, stem_files, layout.cache_home(studio.settings, prod.id) / "soundtrack",
        on_progress=progress, previous=layout.latest_link(studio.settings, prod.id),
        ready=ready))


async def handed_off(result: CutResult) -> Path | None:
    """The cut's editor's package once written; None if it could not be (it is written again
    from the cut's record when someone asks for it: handoff.ensure). The cuts the build
    retired are gone from the disk by then too: all its work after publication is done."""
    await publish.settle(result.directory.parent)
    if result.handoff is None:
        return None
    try:
        return await asyncio.shield(result.handoff)
    except Exception:  # logged by the writer
        return None


def where(settings: Settings, result: CutResult) -> str:
    """How a member gets the whole film: its link, else its place on the server."""
    link = film_link(settings, result.directory)
    return link or f"on the server at `{result.film}`"
