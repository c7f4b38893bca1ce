"""The cut: stitch the approved takes (slates where there are none) into one verified film.

Each segment is normalized once (cached); each chapter's pictures are read once into a reel of
H.264 samples (studio/reels.py) and each chapter's sound, stems at its start and the mix
loudness-normalized in two passes, is encoded once (studio/soundtrack.py); the film is written
from the reels and the sound by studio/mp4.py (no re-encoding, no per-packet muxing), verified
packet by packet, and published by renaming its folder into place. A failed or interrupted
build never touches the last good cut.
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
import re
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from urllib.parse import quote

import av
from av.stream import Discard

from storage import audit, cuts
from storage.cuts import Cut
from storage.productions import Production
from studio import mediastore
from studio.app import Studio
from studio.cut import editorial, mp4, reels, segments, slates, soundtrack, timeline
from studio.cut.adts import PRIMING
from studio.cut.loudness import Loudness, gain_filter, measured_loudness
from studio.cut.timeline import SAMPLE_RATE, Entry, Timeline
from studio.errors import InvalidInput, SlateError
from studio.media import (
    CacheDamaged,
    FFmpegFailed,
    facts_of,
    read_concat_list,
    run_ffmpeg,
    write_concat_list,
)
from studio.ops.settings import Settings

log = logging.getLogger(__name__)

OnProgress = Callable[[str, float], None]
FILM = "film.mp4"
TITLES = {"mix": "Mix", "takes": "Takes", "music": "Music"}  # other stem kinds: VO, SFX

__all__ = ["Loudness", "gain_filter", "measured_loudness"]  # re-exported for callers


class CutBusy(SlateError):
    """Another build of the cut is running (in this process or another)."""


class CutFailed(SlateError):
    """The build did not produce a film that passed verification."""


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


RUNNING: dict[int, BuildStatus] = {}


def cut_dir(settings: Settings, version: int) -> Path:
    return settings.cuts_path / f"{version:04d}"


@contextlib.contextmanager
def build_lock(settings: Settings) -> Iterator[None]:
    """One build at a time, across processes too (the bot and a shell `cut`)."""
    settings.cuts_path.mkdir(parents=True, exist_ok=True)
    handle = (settings.cuts_path / ".lock").open("a")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CutBusy("a cut is already being built; try /cut status") from None
        yield
    finally:
        handle.close()


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
    line = await timeline.build(studio, prod)
    last = await cuts.latest(studio.db.reader, prod.id)
    if not line.shots or (last is not None and not last.broken_takes
                          and last.timeline_data == json.loads(json.dumps(line.to_json()))):
        return None
    return await build(studio, prod, trigger="nightly", on_progress=on_progress)


async def build(studio: Studio, prod: Production, *, trigger: str = "manual",
                on_progress: OnProgress | None = None) -> CutResult:
    """Build, verify and publish the next cut; raise CutBusy or CutFailed (nothing replaced)."""
    settings = studio.settings
    with build_lock(settings):
        line = await timeline.build(studio, prod)
        if not line.shots:
            raise InvalidInput("the production has no shots yet: import a shot list first")
        async with studio.db.transaction() as tx:
            await cuts.abandon_stale(tx, prod.id)
        for stale in settings.cuts_path.glob(".building-*"):
            shutil.rmtree(stale, ignore_errors=True)
        async with studio.db.transaction() as tx:
            cut = await cuts.start(tx, prod.id, trigger)
        state = RUNNING[prod.id] = BuildStatus(cut.version)

        def report(stage: str, fraction: float) -> None:
            state.enter(stage, fraction)
            if on_progress:
                on_progress(stage, fraction)

        staging = settings.cuts_path / f".building-{cut.version:04d}"
        try:
            attempts = _Attempts()
            try:
                result = await _build(studio, prod, cut, line, staging, report, attempts)
            except CacheDamaged as damaged:
                # Checked when it was made, so the disk damaged it since: made again, once.
                log.warning("cut %s: %s; making it again", cut.version, damaged.reason)
                with contextlib.suppress(FileNotFoundError):
                    os.remove(damaged.path)
                shutil.rmtree(staging, ignore_errors=True)
                result = await _build(studio, prod, cut, line, staging, report, attempts)
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
        _retain(settings, await cuts.published(studio.db.reader, prod.id))
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
    return _short(f"{type(exc).__name__}: {exc}", settings.data_dir)


async def _build(studio: Studio, prod: Production, cut: Cut, line: Timeline, staging: Path,
                 report: OnProgress, attempts: _Attempts) -> CutResult:
    settings = studio.settings
    os.makedirs(staging)
    report("normalizing", 0.0)
    planned = await _plan(studio, line)
    stem_files = [mediastore.path_for(settings.media_path, s.media_sha256) for s in line.stems]
    loop = asyncio.get_running_loop()
    made = [loop.create_future() for _ in line.entries]  # set as each entry's segment is made

    async def ready(first: int, last: int) -> None:
        for segment in made[first:last]:
            await segment

    # The editorial files need only the timeline and where its segments will be: written in
    # the segment pool while the segments are made. The sound starts with them too: each
    # chapter is measured, and its pieces encoded, once the segments it hears are made.
    export, sound = _start(studio, prod, line, planned, stem_files, staging, report, ready)
    try:
        segments, broken, encoded = await _segments(studio, line, staging, report, planned,
                                                    made)
        attempts.encoded |= encoded
    except BaseException:
        sound.cancel()
        await asyncio.gather(export, sound, return_exceptions=True)
        raise
    shutil.rmtree(staging / "cards", ignore_errors=True)  # drawn to be encoded; now in segments
    if broken:
        # A broken take is a slate now: the sound and the editorial files are made again.
        sound.cancel()
        await asyncio.gather(export, sound, return_exceptions=True)
        line = dataclasses.replace(line, entries=[
            _as_slate(e, next(b for b in broken if b.take_id == e.take_id))
            if any(b.take_id == e.take_id for b in broken) else e for e in line.entries])
        fresh = [b for b in broken if b.take_id not in attempts.audited]
        async with studio.db.transaction() as tx:
            for b in fresh:
                await audit.record(tx, prod.id, None, "take", b.take_id, "cut_failed",
                                   after={"cut": cut.version, "shot": b.code,
                                          "reason": b.reason})
        attempts.audited.update(b.take_id for b in fresh)
        export, sound = _start(studio, prod, line, segments, stem_files, staging, report)
    film = staging / FILM
    # New reels are read in the segment pool while the sound is mixed here.
    picture = reels.start(line, segments, settings.cache_path / "reels")
    left_out: list[BrokenStem] = []
    try:
        while True:
            try:
                runs, size = await _stitch(line, segments, staging, film, report, sound,
                                           picture)
                break
            except soundtrack.StemUnreadable as exc:
                # Left out of this cut, as a broken take is a slate: the sound, the reels and
                # the editorial files start over without it.
                left_out.append(_broken_stem(line, exc))
                log.warning("chapter %s's %s stem broke the cut: %s", exc.stem.chapter_number,
                            exc.stem.kind, exc.reason)
                await asyncio.gather(export, return_exceptions=True)
                kept = [k for k, s in enumerate(line.stems) if s != exc.stem]
                line = dataclasses.replace(line, stems=[line.stems[k] for k in kept])
                stem_files = [stem_files[k] for k in kept]
                export, sound = _start(studio, prod, line, segments, stem_files, staging,
                                       report)
                picture = reels.start(line, segments, settings.cache_path / "reels")
        report("verifying", 0.0)
        verdict = await verify(film, line, soundtrack.frames_total(runs), size)
        if verdict:
            raise CutFailed(f"cut {cut.version} did not verify: {verdict}")
        report("preview", 0.0)
        preview = await _preview(settings, film, staging, line)
        report("exporting", 0.0)
        paths = await export
    finally:
        # Workers cannot be stopped: wait for them before the staging folder is removed.
        await asyncio.gather(sound, picture, export, return_exceptions=True)
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
    data = line.to_json()
    (staging / "timeline.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    # Publish: the folder appears whole under its version name, then the record says so.
    final = cut_dir(settings, cut.version)
    os.replace(staging, final)
    _point_latest(settings, final)
    total = len(line.shots)
    async with studio.db.transaction() as tx:
        await cuts.publish(tx, cut.id, timeline=data, path=str(final), duration=line.duration,
                           verdict="verified", changelog=log_text, shots_total=total,
                           shots_approved=len(line.approved),
                           broken=[dataclasses.asdict(b) for b in [*broken, *left_out]])
        await audit.record(tx, prod.id, None, "cut", cut.id, "publish",
                           after={"version": cut.version, "duration": round(line.duration, 3)})
    done = await cuts.get(studio.db.reader, cut.id)
    assert done is not None
    report("published", 1.0)
    moved = {k: final / p.name for k, p in paths.items()}
    return CutResult(done, final, final / FILM,
                     final / preview.name if preview else None, moved, log_text,
                     final / credits.name, made_now, len(used) - made_now, sound_encoded,
                     sound_reused, broken, line, RUNNING[prod.id].timings, left_out)


def _start(studio: Studio, prod: Production, line: Timeline, segments: list[Path],
           stem_files: list[Path], staging: Path, report: OnProgress,
           ready: soundtrack.Ready | None = None
           ) -> tuple[asyncio.Future[dict[str, Path]],
                      asyncio.Future[list[soundtrack.Sound | soundtrack.Measured]]]:
    """The editorial files and the sound of `line`, both started now (and again whenever a
    broken take or stem changes the line)."""
    return (asyncio.ensure_future(_editorial(line, segments, stem_files, staging)),
            _sound(studio, prod, line, segments, stem_files, report, ready))


async def _editorial(line: Timeline, segments: list[Path], stem_files: list[Path],
                     staging: Path) -> dict[str, Path]:
    """The editorial files, written in two of the segment pool's worker processes at once:
    0.15 s of pure Python for 200 shots that would otherwise hold this process's lock while
    the sound and the film are made, and the last thing a one-approval night waits for."""
    loop = asyncio.get_running_loop()
    parts = await asyncio.gather(*(
        loop.run_in_executor(segments.pool(), editorial.write_part, part, line, segments,
                             stem_files, staging) for part in editorial.PARTS),
        return_exceptions=True)
    problems = [p for p in parts if isinstance(p, BaseException)]
    if any(isinstance(p, BrokenProcessPool) for p in problems):
        # A take's crash took the pool down meanwhile: they are written here instead.
        await asyncio.to_thread(editorial.write_all, line, segments, stem_files, staging)
    elif problems:
        raise problems[0]
    return editorial.files(staging)


def _broken_stem(line: Timeline, lost: soundtrack.StemUnreadable) -> BrokenStem:
    """The stem that could not be read, with its chapter's owner (who uploads it again)."""
    number = lost.stem.chapter_number
    owner = next((e for e in line.entries if e.chapter_number == number and e.kind != "credits"),
                 None)
    return BrokenStem(number, lost.stem.kind, owner.owner if owner else "", lost.reason,
                      owner.owner_id if owner else None)


def _as_slate(entry: Entry, broken: BrokenTake) -> Entry:
    return dataclasses.replace(entry, kind="slate", reason=f"take r{entry.take_revision} "
                               f"could not be used: {broken.reason}"[:90])


async def _plan(studio: Studio, line: Timeline) -> list[Path]:
    """Where each entry's segment will be (made or not), known before anything is made: a
    take's by its media, a slate's or credits card's by what it shows (drawn only if new)."""
    profile = line.profile
    cache = studio.settings.cache_path / "segments"
    paths = []
    for entry in line.entries:
        if entry.kind != "take":
            key = segments.cache_key(_card_key(line, entry), "image", entry.frames, profile)
        else:
            assert entry.media_sha256 and entry.take_kind
            key = segments.cache_key(entry.media_sha256, entry.take_kind, entry.frames,
                                      profile)
        paths.append(segments.segment_path(cache, key))
    return paths


def _credits_card(line: Timeline, entry: Entry) -> list[tuple[str, str]]:
    """The lines on the credits card `entry` (its shot_number counts the cards from 1)."""
    return timeline.credit_cards(line.credits)[entry.shot_number - 1]


def _card_key(line: Timeline, entry: Entry) -> str:
    if entry.kind == "credits":
        return slates.credits_key(_credits_card(line, entry), line.profile)
    return slates.slate_key(entry, line.profile)


def _card(line: Timeline, entry: Entry, folder: Path) -> Path:
    png = folder / f"{entry.code}.png"
    if entry.kind == "credits":
        return slates.render_credits(_credits_card(line, entry), line.profile, png)
    return slates.render_slate(entry, line.profile, png)


async def _segments(studio: Studio, line: Timeline, staging: Path, report: OnProgress,
                    planned: list[Path], made: list[asyncio.Future[None]]
                    ) -> tuple[list[Path], list[BrokenTake], set[str]]:
    """Normalize every entry (cached) to its planned segment (whose name is its key); a take
    that fails becomes a slate and is reported. A card is drawn only when its segment is new:
    early in a production most shots are slates, and a 1080p card costs 36 ms to draw."""
    settings = studio.settings
    profile = line.profile
    cache = settings.cache_path / "segments"
    done = 0
    encoded: set[str] = set()  # the segments made now (the rest came from the cache)
    broken: list[BrokenTake] = []
    limit = asyncio.Semaphore(segments.workers())  # every worker busy, none queued behind

    async def card(entry: Entry, key: str) -> Path:
        png = staging / "cards" / f"{entry.code}.png"
        if not segments.segment_path(cache, key).exists():
            await asyncio.to_thread(_card, line, entry, png.parent)
        seg = await segments.normalize(cache, key, png, "image", False, entry.frames, profile)
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
                    seg = await segments.normalize(cache, key, source, entry.take_kind,
                                                    entry.media_has_audio, entry.frames, profile)
                    # A new segment was decode-checked by the worker that made it.
                    if not seg.cached:
                        encoded.add(seg.path.name)
                    return seg.path
                except FFmpegFailed as exc:
                    reason = _short(str(exc), settings.data_dir)
                    broken.append(BrokenTake(entry.code, entry.take_id, entry.owner,
                                             entry.creator, reason, entry.owner_id))
                    log.warning("take %s of shot %s broke the cut: %s", entry.take_id,
                                entry.code, reason)
                    slate = _as_slate(entry, broken[-1])
                    return await card(slate, segments.cache_key(
                        slates.slate_key(slate, profile), "image", entry.frames, profile))
            finally:
                done += 1
                if not made[i].done():
                    made[i].set_result(None)  # made, or a slate now (the sound starts over)
                report("normalizing", done / len(line.entries))

    paths = await asyncio.gather(*(one(i, e) for i, e in enumerate(line.entries)))
    return list(paths), broken, encoded


def _short(text: str, data_dir: Path | None = None) -> str:
    """ffmpeg's complaint without paths: they say nothing to the take's owner."""
    # A path ends at a space or a quote: the quotes around it are kept, '…'.
    if data_dir is not None:
        for known in {str(data_dir.resolve()), str(data_dir)}:
            text = re.sub(re.escape(known) + r"[^\s'\"]*", "…", text)
    text = re.sub(r"/[^\s'\"]+", "…", text)
    return text.strip()[:160] or "ffmpeg could not read it"


def _sound(studio: Studio, prod: Production, line: Timeline, segments: list[Path],
           stem_files: list[Path], report: OnProgress, ready: soundtrack.Ready | None
           ) -> asyncio.Future[list[soundtrack.Sound | soundtrack.Measured]]:
    """The sound, being made (soundtrack.build); its progress shown once the segments are."""
    def progress(fraction: float) -> None:
        state = RUNNING.get(prod.id)
        if state is not None and state.stage != "normalizing":
            report("mixing", fraction)

    return asyncio.ensure_future(soundtrack.build(
        line, segments, stem_files, studio.settings.cache_path / "soundtrack",
        on_progress=progress, previous=studio.settings.cuts_path / "latest", ready=ready))


async def _stitch(line: Timeline, segments: list[Path], staging: Path, film: Path,
                  report: OnProgress,
                  sound: asyncio.Future[list[soundtrack.Sound | soundtrack.Measured]],
                  picture: asyncio.Future[list[reels.BuiltReel]]
                  ) -> tuple[list[soundtrack.Sound | soundtrack.Measured], int]:
    """Write the film from the reels' pictures (`picture`, being read) and the sound's pieces
    (`sound`, being made): nothing is re-encoded."""
    write_concat_list(segments, staging / "segments.txt")
    report("mixing", 0.0)
    try:
        runs, made = await asyncio.gather(sound, picture)
    except BaseException:
        for task in (sound, picture):
            task.cancel()
        await asyncio.gather(sound, picture, return_exceptions=True)
        raise
    soundtrack.record(runs, staging)
    (staging / "reels.txt").write_text("".join(f"{r.key}\n" for r in made), encoding="utf-8")
    report("stitching", 0.0)
    tracks = await asyncio.to_thread(soundtrack.join, line, runs)
    size = await asyncio.to_thread(_write_film, line, made, tracks, film)
    report("stitching", 1.0)
    return runs, size


def _write_film(line: Timeline, made: list[reels.BuiltReel], tracks: list[list[bytes]],
                film: Path) -> int:
    p = line.profile
    picture = mp4.VideoTrack(p.width, p.height, p.timescale,
                             int(Fraction(p.timescale) / p.fps), made[0].delay, made[0].avcc,
                             [r.samples for r in made])
    sound = [mp4.audio_track(frames, TITLES.get(track, track.upper()), priming=PRIMING,
                             default=n == 0)
             for n, (track, frames) in enumerate(zip(soundtrack.tracks_of(line), tracks,
                                                     strict=True))]
    try:
        return mp4.write(film, picture, sound, line.production_title)
    except mp4.SamplesChanged as exc:
        # Its tables go: the reel is read again from its segments.
        raise CacheDamaged(str(exc.data.with_suffix(".json")), "the picture of a chapter's "
                           "reel changed on disk since it was read from its shots") from None


async def verify(film: Path, line: Timeline, audio_frames: int,
                 size: int | None = None) -> str | None:
    """None when the film matches its timeline: duration, every stream, every packet.

    Every segment and every sound piece was decoded end to end when it was made (cached ones
    when they were cached); the film is their bitstreams copied, so here the file holds every
    byte written (`size`), the index counts a frame for each of the timeline's frames and
    every AAC frame of every track, and every picture packet is demuxed."""
    if size is not None and (found := _size(film)) != size:
        return f"the film is {found} bytes; {size} were written: it was cut short or changed"
    return await asyncio.to_thread(_inspect, film, line, audio_frames)


def _inspect(film: Path, line: Timeline, audio_frames: int) -> str | None:
    """verify's reading of the film, opened once: its streams, its index and its pictures."""
    try:
        container = av.open(str(film))
    except Exception as exc:  # any PyAV error means the film is unreadable
        return f"the film cannot be opened ({type(exc).__name__})"
    with container:
        duration, streams = facts_of(container)
        tolerance = line.profile.seconds(len(line.entries)) + 0.05
        if abs(duration - line.duration) > tolerance:
            return f"it lasts {duration:.3f}s; the timeline says {line.duration:.3f}s"
        video = [s for s in streams if s.kind == "video"]
        audio = [s for s in streams if s.kind == "audio"]
        if len(video) != 1 or (video[0].width, video[0].height) != (line.profile.width,
                                                                    line.profile.height):
            return "the picture stream is missing or the wrong size"
        expected = len(soundtrack.tracks_of(line))
        if len(audio) != expected:
            return f"it has {len(audio)} audio tracks; expected {expected}"
        try:
            return _index_problem(container, line, audio_frames)
        except Exception as exc:  # PyAV raises many kinds; any of them means a broken film
            return f"it does not demux end to end ({type(exc).__name__}: {_short(str(exc))})"


def _index_problem(container: av.container.InputContainer, line: Timeline,
                  audio_frames: int) -> str | None:
    """The film's index and its pictures: a picture for each of the timeline's frames, each
    picture packet read, every AAC frame of every track, and the sound ending with the
    picture (within a frame and the last AAC frame)."""
    streams = list(container.streams)
    found = [(s.type, s.frames, float((s.start_time or 0) + (s.duration or 0))
              * float(s.time_base or 0)) for s in streams]
    # The sound's packets are skipped unread (every byte's presence is the size check's; each
    # piece was decoded when made): reading them would triple this pass.
    for stream in container.streams.audio:
        stream.discard = Discard.all
    read = sum(1 for packet in container.demux(video=0) if packet.size)
    picture = next(f for f in found if f[0] == "video")
    if picture[1] != line.frames:
        return f"it holds {picture[1]} picture frames; the timeline has {line.frames}"
    if read != picture[1]:
        return (f"it does not demux end to end: {read} of {picture[1]} picture packets "
                f"could be read")
    slack = line.profile.seconds(1) + 2 * 1024 / SAMPLE_RATE
    for n, (kind, count, end) in enumerate(f for f in found if f[0] == "audio"):
        assert kind == "audio"
        if count != audio_frames:
            return f"audio track {n} holds {count} AAC frames, not {audio_frames}"
        if abs(end - picture[2]) > slack:
            return f"audio track {n} ends at {end:.3f}s, the picture at {picture[2]:.3f}s"
    return None


async def _preview(settings: Settings, film: Path, staging: Path, line: Timeline) -> Path | None:
    """A file small enough to post in Discord: the film itself when it fits, else a smaller one."""
    limit = settings.cut_preview_max_bytes
    if _size(film) <= limit:
        return film
    preview = staging / "preview.mp4"
    # Leave room for the audio at 64 kb/s; aim the video at what remains.
    video_kbps = max(50, int(limit * 8 * 0.9 / max(line.duration, 1) / 1000) - 64)
    try:
        await run_ffmpeg(["-v", "error", "-i", str(film), "-map", "0:v:0", "-map", "0:a:0",
                          "-vf", "scale=-2:min(ih\\,360)", "-c:v", "libx264", "-preset",
                          "veryfast", "-b:v", f"{video_kbps}k", "-maxrate", f"{video_kbps}k",
                          "-bufsize", f"{video_kbps * 2}k", "-c:a", "aac", "-b:a", "64k",
                          "-movflags", "+faststart", str(preview)])
    except FFmpegFailed:
        return None
    if _size(preview) <= limit:
        return preview
    preview.unlink()  # too big even so: the post gives the film's place instead
    return None


def film_link(settings: Settings, directory: Path) -> str | None:
    """The film's public address under SLATE_CUTS_URL (where producers serve the cuts folder)."""
    if not settings.cuts_url:
        return None
    return f"{settings.cuts_url.rstrip('/')}/{quote(directory.name)}/{FILM}"


def where(settings: Settings, result: CutResult) -> str:
    """How a member gets the whole film: its link, else its place on the server."""
    link = film_link(settings, result.directory)
    return link or f"on the server at `{result.film}`"


def _size(path: Path) -> int:
    return path.stat().st_size


def _point_latest(settings: Settings, final: Path) -> None:
    link = settings.cuts_path / "latest"
    temp = settings.cuts_path / ".latest-new"
    temp.unlink(missing_ok=True)
    temp.symlink_to(final.name)
    os.replace(temp, link)


def _retain(settings: Settings, published: list[Cut]) -> None:
    """Keep the newest N published cuts' folders; older ones lose their files, not their row.

    Normalized segments and sound runs no kept cut uses (its film, its editorial files) leave
    the cache too.
    """
    keep = {cut_dir(settings, c.version).name for c in published[:settings.cut_keep]}
    for folder in settings.cuts_path.iterdir():
        if folder.is_dir() and not folder.is_symlink() and folder.name.isdigit() \
                and folder.name not in keep:
            shutil.rmtree(folder, ignore_errors=True)
    def listed(listing: str) -> set[str]:
        """What the kept cuts' listings name: segment and reel hashes, sound run names."""
        found: set[str] = set()
        for name in keep:
            path = settings.cuts_path / name / listing
            if path.exists():
                found |= set(path.read_text(encoding="utf-8").split()) \
                    if listing != "segments.txt" else {p.stem for p in read_concat_list(path)}
        return found

    used = listed("segments.txt")
    for segment in (settings.cache_path / "segments").glob("*/*.mov"):
        if segment.stem not in used:
            segment.unlink(missing_ok=True)
    kept_reels = listed("reels.txt")
    # A killed build's half-read reels (.partial-*) go too: no kept cut lists them.
    for reel in (settings.cache_path / "reels").glob("*/*"):
        if reel.stem not in kept_reels:
            reel.unlink(missing_ok=True)
    sounds = listed("soundtrack.txt")
    # A killed build's half-made entries (.partial-*) go too: no kept cut lists them.
    for entry in (settings.cache_path / "soundtrack").glob("*/*"):
        if entry.name not in sounds:
            if entry.is_dir():  # a whole-chapter run of the earlier recipe
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
    for partial in (settings.cache_path / "soundtrack").glob(".partial-*"):
        partial.unlink(missing_ok=True)


def changelog(line: Timeline, previous: Cut | None, version: int,
              broken: list[BrokenTake], broken_stems: list[BrokenStem] | None = None) -> str:
    """What changed since the previous cut: shots newly approved, runtime, percent complete."""
    shots = line.shots
    approved = {e.code: e.take_id for e in shots if e.kind == "take"}
    before: dict[str, int | None] = {}
    before_duration = 0.0
    if previous is not None:
        data = previous.timeline_data
        before = {e["code"]: e["take_id"] for e in data.get("entries", [])
                  if e["kind"] == "take"}
        before_duration = float(data.get("duration", 0.0))
    new = [e for e in shots if e.kind == "take" and before.get(e.code) is None]
    changed = [e for e in shots if e.kind == "take" and before.get(e.code) not in (None,
                                                                                   e.take_id)]
    lost = [code for code in before if code not in approved]
    percent = 100.0 * len(approved) / len(shots) if shots else 0.0
    lines = [f"# {line.production_title} — cut {version}", "",
             f"- runtime: {clock(line.duration)}"
             + (f" (was {clock(before_duration)})" if previous else ""),
             f"- complete: {len(approved)}/{len(shots)} shots approved ({percent:.0f}%)"]
    if previous is None:
        lines.append("- first cut")
    else:
        lines.append(f"- since cut {previous.version}: {len(new)} newly approved, "
                     f"{len(changed)} re-approved, {len(lost)} no longer approved")
    for e in new:
        lines.append(f"  - new: shot {e.code} take r{e.take_revision} ({e.owner or 'open'})")
    for e in changed:
        lines.append(f"  - changed: shot {e.code} now take r{e.take_revision}")
    for code in lost:
        lines.append(f"  - slate again: shot {code}")
    for b in broken:
        lines.append(f"- BROKEN: shot {b.code} take {b.take_id} ({b.owner or 'open'}) "
                     f"shown as a slate: {b.reason}")
    for s in broken_stems or []:
        lines.append(f"- BROKEN: chapter {s.chapter}'s {s.kind} stem ({s.owner or 'open'}) "
                     f"left out: {s.reason}")
    return "\n".join(lines) + "\n"


def clock(seconds: float) -> str:
    """A running time as an editor writes it: 2:41.0, or 1:52:07.5 for a feature."""
    whole = int(seconds)
    hours, minutes = divmod(whole // 60, 60)
    tenths = int((seconds - whole) * 10)
    if hours:
        return f"{hours}:{minutes:02d}:{whole % 60:02d}.{tenths}"
    return f"{minutes}:{whole % 60:02d}.{tenths}"
