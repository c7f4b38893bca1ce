"""The film's sound as pieces on the AAC grid, encoded in-process and cached one by one.

The watch copy has one track, the mix; a multi-track master (SLATE_CUT_STEM_TRACKS) also has
the takes' own sound and one track per stem kind (tracks_of).

The film's sound is a grid of 1024-sample frames from sample 0 (after one priming frame the
MP4 edit list skips). Pieces are cut at the shots' starts rounded to the grid; each track's
piece [a, b) is encoded (PyAV's aac encoder) from the film's own PCM for that track (read
over [a − 2048, b + 3072)), and keeps exactly the frames covering [a, b): the encoder's
priming and any pre-roll are dropped, so pieces joined end to end decode gaplessly. Frames
whose block hears nothing are the silent frame (_stretches). An approval re-encodes only the
pieces around its shot.

Each chapter's mix (and the credits') is brought to the loudness target in two passes
(ebur128, then volume and alimiter where the peaks need it). Hysteresis: a chapter keeps the
gain it had in the previous published cut while that gain holds it within ±0.5 LU of the
target with its true peak under the ceiling, so a small change does not re-encode the whole
chapter's mix. The gains are recorded beside the cut's listing, in soundtrack.json.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import itertools
import json
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import av
import numpy as np

from studio.cut import adts, loudness, seal, segment_read
from studio.cut.adts import SAMPLES_PER_FRAME
from studio.cut.loudness import Gain, Loudness
from studio.cut.timeline import SAMPLE_RATE, StemEntry, Timeline
from studio.media import UNREADABLE, CacheDamaged
from studio.waiting import stopped

# Bump when the encoding below changes: old cached pieces then stop matching.
RECIPE = "10"
PRE = 2 * SAMPLES_PER_FRAME  # pre-roll before a piece: the encoder settles before `a`
POST = 3 * SAMPLES_PER_FRAME  # after `b`: the frames up to b are encoded as in a longer stream
BLOCK = 2 * SAMPLES_PER_FRAME  # what a frame's MDCT block codes: its own samples and the next's
HYSTERESIS = 0.5  # LU a kept gain may leave the chapter off the target
GROUP = 16  # adjacent new pieces per encode: the encoder's slow first frames paid once
# Every track (the mix, the takes' sound, each stem) is AAC-LC at a constant quality (VBR,
# q 2) with the fast coder: measured on voice, effects, music, a mix and a tone, it codes each
# as well as 128 kb/s with the twoloop coder or better (by SNR) in 2–8× less time. At a
# constant rate the encoder searched a sparse track's frames up to six times over for bits
# it had no use for (see the README).
QUALITY = 2.0
KEPT_PCM = 192 * 2**20  # bytes of sources' PCM a build keeps decoded (a few chapters' stems)
KEPT_MIXES = 4  # chapters' limited mixes kept whole (one per sound thread, and neighbours)
CODING = {"aac_coder": "fast", "flags": "+qscale", "global_quality": str(round(QUALITY * 118))}


_K = TypeVar("_K")


class StemUnreadable(Exception):
    """A stem's file cannot be read: the cut leaves the stem out and says so (studio/cut.py)."""

    def __init__(self, stem: StemEntry, reason: str) -> None:
        super().__init__(reason)
        self.stem = stem
        self.reason = reason


@dataclass(frozen=True)
class Run:
    """A chapter (or the end credits): one reel of picture, one loudness measurement."""

    first: int  # index of its first entry in the timeline
    last: int  # index after its last entry
    start: int  # its first sample
    end: int  # the next run's first sample (the film's padded end for the last)
    stems: tuple[int, ...]  # indices into the timeline's stems
    label: str  # "credits" or the chapter's number: what a gain is remembered by


@dataclass(frozen=True)
class Piece:
    """A stretch [a, b) of the film's sound grid, encoded alone."""

    a: int
    b: int
    first: bool  # the film's first piece also holds the priming frame before sample 0

    @property
    def frames(self) -> int:
        return (self.b - self.a) // SAMPLES_PER_FRAME + self.first


@dataclass(frozen=True)
class Sound:
    """One track of one piece: a cache entry of ADTS frames (or the cached silent frame)."""

    key: str
    cached: bool
    piece: Piece
    track: str
    path: Path


@dataclass(frozen=True)
class Measured:
    """A run's measured loudness (cached by its content) and the gain its mix got."""

    key: str
    cached: bool
    label: str
    loudness: Loudness | None
    gain: Gain
    parts: tuple[str, ...] = ()  # its shots' cached shares of the measurement


def tracks_of(line: Timeline) -> list[str]:
    """The film's audio tracks in order: the mix; then, in a multi-track master only, the
    takes' own sound and one per stem kind (an editor gets those as files in the hand-off)."""
    return ["mix", "takes", *line.stem_kinds] if line.stem_tracks else ["mix"]


def film_end(line: Timeline) -> int:
    """The film's sound rounded up to whole frames (at least two)."""
    total = line.profile.samples(line.frames)
    return max(2, -(-total // SAMPLES_PER_FRAME)) * SAMPLES_PER_FRAME


def plan(line: Timeline) -> list[Run]:
    """Runs: one per chapter and one for the credits."""
    p = line.profile
    runs = []
    for span in line.chapter_spans():
        last = span.last
        end = p.samples(line.entries[last].start_frame) if last < len(line.entries) \
            else film_end(line)
        label = "credits" if span.chapter is None else str(span.chapter)
        stems = tuple(k for k, s in enumerate(line.stems)
                      if span.chapter is not None and s.chapter_number == span.chapter)
        start = p.samples(line.entries[span.first].start_frame)
        runs.append(Run(span.first, last, start, end, stems, label))
    return runs


def pieces(line: Timeline) -> list[Piece]:
    """The grid cut at the shots' starts (rounded to frames); no piece under two frames."""
    end = film_end(line)
    bounds = [0]
    for entry in line.entries:
        at = round(line.profile.samples(entry.start_frame) / SAMPLES_PER_FRAME) \
            * SAMPLES_PER_FRAME
        if at - bounds[-1] >= 2 * SAMPLES_PER_FRAME and end - at >= 2 * SAMPLES_PER_FRAME:
            bounds.append(at)
    bounds.append(end)
    return [Piece(a, b, a == 0) for a, b in itertools.pairwise(bounds)]


class Sources:
    """Where each track's PCM comes from, placed on the film's sample line."""

    def __init__(self, line: Timeline, segments: list[Path], stem_files: list[Path]) -> None:
        p = line.profile
        self.line = line
        self.end = film_end(line)
        starts = [p.samples(e.start_frame) for e in line.entries] + [p.samples(line.frames)]
        # (start, length, segment) of each take with sound: slates and credits are silent.
        self.takes = [(starts[i], starts[i + 1] - starts[i], segments[i])
                      for i, e in enumerate(line.entries) if e.kind == "take"
                      and e.media_has_audio]
        # By start, as the takes are: found by bisection too.
        self.stems = sorted(((p.samples(s.start_frame), p.samples(s.frames), stem_files[k], s)
                             for k, s in enumerate(line.stems)), key=lambda t: t[0])
        self._take_starts = [start for start, _, _ in self.takes]  # sorted: timeline order
        self._longest = max((length for _, length, _ in self.takes), default=0)
        self._stem_starts = [start for start, _, _, _ in self.stems]
        self._longest_stem = max((length for _, length, _, _ in self.stems), default=0)
        # The sources read lately, kept up to KEPT_PCM bytes: a film's pieces are made roughly
        # in its order, so its length does not grow what the build holds.
        self._pcm: OrderedDict[Path, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def overlapping(self, track: str, lo: int, hi: int) -> list[list[object]]:
        """What the track's sound over [lo, hi) is made of, relative to lo (for cache keys)."""
        found: list[list[object]] = []
        if track in ("mix", "takes"):
            # Only the takes starting in [lo - longest, hi) can overlap: found by bisection, as
            # this runs for every piece of every track.
            first = bisect.bisect_left(self._take_starts, lo - self._longest)
            last = bisect.bisect_left(self._take_starts, hi)
            found += [["take", seg.name, start - lo, length]
                      for start, length, seg in self.takes[first:last]
                      if start < hi and start + length > lo]
        first = bisect.bisect_left(self._stem_starts, lo - self._longest_stem)
        last = bisect.bisect_left(self._stem_starts, hi)
        found += [["stem", s.media_sha256, s.kind, start - lo, length]
                  for start, length, _, s in self.stems[first:last]
                  if (track == "mix" or s.kind == track) and start < hi and start + length > lo]
        return found

    def _load(self, path: Path, length: int, stem: StemEntry | None = None) -> np.ndarray:
        with self._lock:
            kept = self._pcm.get(path)
            if kept is not None:
                self._pcm.move_to_end(path)
        if kept is None or kept.shape[1] < length:
            kept = _segment_pcm(path, length) if stem is None else _stem_pcm(stem, path, length)
            with self._lock:
                self._pcm[path] = kept
                _trim(self._pcm, KEPT_PCM)
        return kept

    def pcm(self, track: str, lo: int, hi: int) -> np.ndarray:
        """The track's true PCM over [lo, hi): float stereo, zeros outside the film."""
        out = np.zeros((2, hi - lo), np.float32)

        def place(start: int, length: int, samples: np.ndarray) -> None:
            a, b = max(lo, start), min(hi, start + length)
            if a < b:
                out[:, a - lo:b - lo] += samples[:, a - start:b - start]

        if track in ("mix", "takes"):
            for start, length, seg in self.takes:
                if start < hi and start + length > lo:
                    place(start, length, self._load(seg, length))
        first = bisect.bisect_left(self._stem_starts, lo - self._longest_stem)
        for start, length, path, s in self.stems[first:bisect.bisect_left(self._stem_starts,
                                                                          hi)]:
            if (track == "mix" or s.kind == track) and start < hi and start + length > lo:
                place(start, length, self._load(path, length, s))
        return out


def _trim(kept: OrderedDict[_K, np.ndarray], budget: int) -> None:
    """Forget the least recently used arrays beyond `budget` bytes (the newest stays)."""
    total = sum(a.nbytes for a in kept.values())
    while total > budget and len(kept) > 1:
        total -= kept.popitem(last=False)[1].nbytes


def _fit(samples: np.ndarray, length: int) -> np.ndarray:
    """Exactly `length` samples: cut, or padded with silence."""
    out = np.zeros((2, length), np.float32)
    n = min(length, samples.shape[1])
    out[:, :n] = samples[:, :n]
    return out


def _segment_pcm(path: Path, length: int) -> np.ndarray:
    """A normalized segment's PCM s16le stereo, read by the segment's own tables: nothing to
    decode, no demuxer to open (segment_read.py)."""
    try:
        raw = np.frombuffer(segment_read.pcm(path), dtype="<i2").reshape(-1, 2).T
    except (*UNREADABLE, seal.Broken) as exc:
        raise CacheDamaged(str(path), f"a normalized shot's sound cannot be read "
                                      f"({type(exc).__name__})") from None
    return _fit(raw.astype(np.float32) / 32768.0, length)


def _stem_pcm(stem: StemEntry, path: Path, length: int) -> np.ndarray:
    """The stem's samples, or StemUnreadable: a stem was checked when uploaded, so this is
    the media store's loss (a file gone or damaged since), never the sound's fault."""
    try:
        return _decode(path, length)
    except FileNotFoundError:
        raise StemUnreadable(stem, "its file is missing from the media store") from None
    except UNREADABLE as exc:
        raise StemUnreadable(stem, f"its file cannot be decoded ({type(exc).__name__})"
                             ) from None


def _decode(path: Path, length: int) -> np.ndarray:
    """A stem decoded and resampled to float stereo at 48 kHz, its first `length` samples."""
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    have = 0
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            frame.pts = None  # the resampler counts samples itself
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(2, -1))
                have += chunks[-1].shape[1]
            if have >= length:
                break
        if have < length:
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(2, -1))
    return _fit(np.concatenate(chunks, axis=1) if chunks else np.zeros((2, 0)), length)


def _version() -> str:
    return f"{av.ffmpeg_version_info} {av.library_versions['libavcodec']}"


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps([RECIPE, _version(), *parts]).encode()).hexdigest()


def _entry(cache: Path, key: str) -> Path:
    return Path(f"{cache}/{key[:2]}/{key}")  # one Path made: asked of every piece


def _write(path: Path, data: bytes) -> None:
    """Written beside, renamed whole: a killed build leaves no half-made entry behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".partial-{os.getpid()}-{secrets.token_hex(4)}-{path.name}")
    try:
        partial.write_bytes(seal.seal(data))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _read(path: Path) -> bytes:
    """A cache entry's bytes as _write sealed them; OSError, or seal.Broken (a ValueError)
    when the disk changed them since."""
    return seal.unseal(path.read_bytes())


def _cached(path: Path, what: str) -> bytes:
    """_read, or CacheDamaged naming `what`: the build makes the entry again."""
    try:
        return _read(path)
    except (OSError, seal.Broken) as exc:
        raise CacheDamaged(str(path), f"{what} cannot be read ({type(exc).__name__})"
                           ) from None


def encode(pcm: np.ndarray) -> list[bytes]:
    """AAC-LC of float stereo PCM, in ADTS frames: one per 1024 samples, after the encoder's
    priming frame (the input is padded to whole frames)."""
    ctx = av.CodecContext.create("aac", "w")
    ctx.sample_rate = SAMPLE_RATE
    ctx.layout = "stereo"
    ctx.format = "fltp"
    ctx.options = CODING
    ctx.open()
    packets = []
    for at in range(0, pcm.shape[1], SAMPLES_PER_FRAME):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(pcm[:, at:at + SAMPLES_PER_FRAME]), format="fltp",
            layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = at
        packets += ctx.encode(frame)
    packets += ctx.encode(None)
    return [adts.header(p.size) + bytes(p) for p in packets]


def decoded_samples(data: bytes) -> int:
    """Samples the ADTS bytes decode to, frame by frame (raises on a broken stream)."""
    decoder = av.CodecContext.create("aac", "r")  # each frame's header configures it
    total = 0
    for frame in adts.frames_of(data):
        total += sum(out.samples for out in decoder.decode(av.Packet(frame)))
    return total + sum(out.samples for out in decoder.decode(None))


def _heard(pcm: np.ndarray, lo: int, k0: int, k1: int) -> np.ndarray:
    """Whether each of the frames k0 − 1 … k1 hears sound: a sample of its block
    [k·1024, k·1024 + BLOCK) is not zero. A frame that hears none codes to nothing: the
    silent frame is that frame exactly, whatever its neighbours are."""
    heard = np.concatenate([[0], np.cumsum(np.any(pcm != 0, axis=0))])
    starts = np.arange(k0 - 1, k1 + 1) * SAMPLES_PER_FRAME - lo
    a = np.clip(starts, 0, pcm.shape[1])
    b = np.clip(starts + BLOCK, 0, pcm.shape[1])
    return heard[b] != heard[a]


def _stretches(pcm: np.ndarray, lo: int, k0: int, k1: int) -> list[tuple[int, int, int, int]]:
    """Stretches (first, end, pre, post) of the frames k0 … k1 − 1 that hear sound, with the
    frames of true input their encode reads before and after them. At an edge in silence
    that is none: a stretch that starts in silence starts with a frame of zeros (its block
    hears the sound after it), so the encoder starts from silence as the film does there
    and, reading on from the stretch before, looks half a frame ahead into zeros. Where the
    sound goes on past the pieces' edge, PRE and POST: the encoder decides there as the
    neighbouring piece's encode did."""
    heard = _heard(pcm, lo, k0, k1)  # heard[k - k0 + 1] is frame k's
    spans: list[list[int]] = []
    for k in range(k0, k1):
        if not heard[k - k0 + 1]:
            continue
        if spans and spans[-1][1] == k:
            spans[-1][1] = k + 1
        else:
            spans.append([k, k + 1])
    return [(first, end,
             PRE // SAMPLES_PER_FRAME if heard[first - k0] else 0,
             POST // SAMPLES_PER_FRAME if heard[end - k0 + 1] else 0)
            for first, end in spans]


def _pieces_frames(pcm: np.ndarray, lo: int, run: list[Piece], silence: bytes
                   ) -> list[bytes]:
    """Adjacent pieces' frames (each piece packed, adts.pack) from their padded input
    (starting at `lo`): each stretch that
    hears sound is encoded from its own input (_stretches), keeping exactly its frames (the
    priming frame too); the rest are the silent frame. The stretches go through one encoder
    end to end, so it starts once: each stretch's kept frames follow its own pre-roll, and
    the frames that straddle the previous stretch's end are among those dropped."""
    k0 = run[0].a // SAMPLES_PER_FRAME - run[0].first
    stretches = _stretches(pcm, lo, k0, run[-1].b // SAMPLES_PER_FRAME)
    inputs, offsets, at = [], [], 0
    for first, end, pre, post in stretches:
        inputs.append(pcm[:, (first - pre) * SAMPLES_PER_FRAME - lo:
                          (end + post) * SAMPLES_PER_FRAME - lo])
        offsets.append(at + pre + 1)  # its first frame's packet: after the encoder's priming
        at += pre + end - first + post
    made = encode(np.concatenate(inputs, axis=1)) if inputs else []
    frames: dict[int, bytes] = {}
    for (first, end, _, _), offset in zip(stretches, offsets, strict=True):
        kept = made[offset:offset + end - first]
        if len(kept) != end - first:
            raise adts.BadADTS(f"the encoder made {len(made)} frames; "
                               f"{offset + end - first} were needed")
        frames.update(zip(range(first, end), kept, strict=True))
    # Every encoded frame kept is decoded once before the cache keeps it (the silent frame
    # was when it was made): each must give its 1024 samples.
    if decoded_samples(b"".join(frames.values())) != len(frames) * SAMPLES_PER_FRAME:
        raise adts.BadADTS("a sound piece does not decode to its length")
    out = []
    for piece in run:
        k = piece.a // SAMPLES_PER_FRAME - piece.first
        out.append(adts.pack([frames.get(n, silence) for n in range(k, k + piece.frames)]))
    return out


def silent_frame(cache: Path) -> Path:
    """One AAC frame of digital silence from this encoder: it decodes to zeros anywhere."""
    kept = cache / f"silence-{_key('silence')[:16]}.aac"
    if not kept.exists():
        frames = encode(np.zeros((2, 8 * SAMPLES_PER_FRAME), np.float32))
        _write(kept, frames[len(frames) // 2])  # one from the middle of the silence
    return kept


def _previous_gains(previous: Path | None) -> dict[str, Gain]:
    """The gains each run had in the previous published cut (none for the first)."""
    record = previous / "soundtrack.json" if previous else None
    if record is None or not record.exists():
        return {}
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
        return {label: Gain(float(g["db"]), bool(g["limit"]))
                for label, g in data.get("gains", {}).items()}
    except (ValueError, KeyError, TypeError):
        return {}  # an unreadable record: every chapter gets its gain afresh


MARGIN = 512  # samples of its neighbours a shot's true peak is measured with (no edge rings)
REACH = 64  # beyond the resampler's: a shot's peak is taken this far into its neighbours


@dataclass(frozen=True)
class ShotPart:
    """One shot's share of its chapter's loudness, cached by content: the K-weighted energy
    of its samples [s, e) per hop of the chapter's 100 ms grid, and their true peak (linear).

    Its window [w0, w1) is what it is measured from: the filters settle on the samples before
    it (within the chapter, as a measurement of the whole chapter does) and its true peak is
    the oversampled peak from `REACH` before to `REACH` after it, its edges read with context
    on both sides (no stretch is missed; one seen twice changes no maximum)."""

    s: int
    e: int
    w0: int
    w1: int
    phase: int
    key: str
    path: Path


def _shot_parts(line: Timeline, run: Run, sources: Sources, cache: Path) -> list[ShotPart]:
    p = line.profile
    bounds = [p.samples(line.entries[i].start_frame) for i in range(run.first, run.last)]
    bounds.append(run.end if run.last < len(line.entries) else p.samples(line.frames))
    bounds[0] = run.start
    parts = []
    for s, e in itertools.pairwise(bounds):
        if e <= s:
            continue
        w0, w1 = max(run.start, s - loudness.SETTLE), min(run.end, e + MARGIN)
        phase = (s - run.start) % loudness.HOP
        key = _key("loudness-shot", sources.overlapping("mix", w0, w1), s - w0, e - s,
                   w1 - e, phase)
        parts.append(ShotPart(s, e, w0, w1, phase, key, _entry(cache, key)))
    return parts


def _measured_part(part: ShotPart, power: np.ndarray, peaks: np.ndarray, at: int
                   ) -> tuple[np.ndarray, float]:
    """The part's energies and peak from its power and 4× peaks, both starting at sample `at`."""
    energies = loudness.hop_energies(power[part.s - at:part.e - at], part.phase)
    lo = max(0, 4 * (part.s - REACH - at))
    hi = min(peaks.size, 4 * (part.e + REACH - at))
    return energies, float(peaks[lo:hi].max(initial=0.0))


def _run_loudness(line: Timeline, run: Run, sources: Sources, cache: Path
                  ) -> tuple[Loudness | None, list[str]]:
    """The run's integrated loudness and true peak, gated from its shots' cached parts (whose
    keys come with it). A chapter mostly new is measured in one pass and shared out; a few
    new shots are measured each from its own window."""
    parts = _shot_parts(line, run, sources, cache)
    known: dict[str, tuple[np.ndarray, float]] = {}
    for part in parts:
        kept = _kept_part(part.path, loudness.hop_count(part.e - part.s, part.phase))
        if kept is not None:
            known[part.key] = kept
    new = [part for part in parts if part.key not in known]
    if len(new) > len(parts) // 2:
        pcm = sources.pcm("mix", run.start, run.end)
        power, peaks = loudness.k_power(pcm), loudness.oversampled(pcm)
        for part in new:
            known[part.key] = _measured_part(part, power, peaks, run.start)
    else:
        for part in new:
            pcm = sources.pcm("mix", part.w0, part.w1)
            known[part.key] = _measured_part(part, loudness.k_power(pcm),
                                             loudness.oversampled(pcm), part.w0)
    for part in new:
        energies, peak = known[part.key]
        _write(part.path, np.concatenate([[peak], energies]).astype("<f8").tobytes())
    length = run.end - run.start
    energies = np.zeros(length // loudness.HOP + 2)
    peak = 0.0
    for part in parts:
        shot, shot_peak = known[part.key]
        at = (part.s - run.start) // loudness.HOP
        energies[at:at + shot.size] += shot
        peak = max(peak, shot_peak)
    found = loudness.integrated(energies, length)
    return (None if found is None else Loudness(found, loudness.in_db(peak))), \
        [part.key for part in parts]


def _kept_part(path: Path, hops: int) -> tuple[np.ndarray, float] | None:
    """A shot's cached peak and its `hops` hop energies; None when absent or damaged on disk
    (then it is measured again)."""
    try:
        data = np.frombuffer(_read(path), dtype="<f8")
    except (OSError, ValueError):  # seal.Broken is a ValueError
        return None
    return (data[1:], float(data[0])) if data.size == hops + 1 else None


def _kept_measure(path: Path) -> tuple[Loudness | None, list[str]] | None:
    """A run's cached loudness and its parts' keys; None when absent or damaged on disk."""
    try:
        data = json.loads(_read(path))
        return (Loudness(*data["loudness"]) if data["loudness"] else None), list(data["parts"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _measure(line: Timeline, run: Run, sources: Sources, cache: Path,
             previous: Gain | None) -> Measured:
    """The run's loudness (cached by content) and its gain, keeping the previous one while it
    still holds the run within the hysteresis of the target, peaks under the ceiling."""
    key = _key("loudness", line.profile.key,
               sources.overlapping("mix", run.start, run.end), run.end - run.start)
    path = _entry(cache, key)
    found = _kept_measure(path)
    cached = found is not None
    if found is not None:
        measured, parts = found
    else:
        measured, parts = _run_loudness(line, run, sources, cache)
        _write(path, json.dumps({"loudness": [measured.integrated, measured.true_peak]
                                 if measured else None, "parts": parts}).encode())
    target = line.profile.lufs
    gain = loudness.gain_for(measured, target)
    if measured is not None and gain != loudness.UNITY and previous is not None \
            and not previous.limit \
            and abs(measured.integrated + previous.db - target) <= HYSTERESIS \
            and measured.true_peak + previous.db <= loudness.CEILING:
        gain = previous
    return Measured(key, cached, run.label, measured, gain, tuple(parts))


Ready = Callable[[int, int], Awaitable[None]]


async def build(line: Timeline, segments: list[Path], stem_files: list[Path], cache: Path,
                on_progress: Callable[[float], None] | None = None, *,
                previous: Path | None = None, ready: Ready | None = None
                ) -> list[Sound | Measured]:
    """Every run's loudness and every piece's tracks, from the cache where their input is
    unchanged, else encoded now. `previous` is the last published cut's folder. `ready(i, j)`
    waits until the segments of entries i..j-1 are made: the sound can start with them,
    each run measured (and each piece encoded) as soon as what it hears exists."""
    loop = asyncio.get_running_loop()
    workers = max(2, os.cpu_count() or 2)
    stop = threading.Event()

    def progress(fraction: float) -> None:
        if on_progress:
            loop.call_soon_threadsafe(on_progress, fraction)

    with ThreadPoolExecutor(workers, thread_name_prefix="sound") as pool:
        try:
            return await _build(line, segments, stem_files, cache, previous, pool, stop,
                                progress, ready or _made)
        except BaseException:
            stop.set()  # jobs not started yet return at once; running ones finish
            raise


async def _made(first: int, last: int) -> None:
    """Every segment exists already (the default)."""


async def _build(line: Timeline, segments: list[Path], stem_files: list[Path], cache: Path,
                 previous: Path | None, pool: ThreadPoolExecutor, stop: threading.Event,
                 progress: Callable[[float], None], ready: Ready) -> list[Sound | Measured]:
    """The reference tracks' pieces are planned at once and each encoded as soon as the
    segments it hears are made; a chapter's mix pieces once the gains they are made at are
    known (the chapter's, and a neighbour's at its edges)."""
    loop = asyncio.get_running_loop()
    sources = Sources(line, segments, stem_files)
    runs = plan(line)
    run_starts = [run.start for run in runs]
    before = _previous_gains(previous)
    gains: dict[str, Measured] = {}  # each run's, once measured

    async def measure(run: Run) -> Measured:
        await ready(run.first, run.last)
        found = await loop.run_in_executor(pool, _measure, line, run, sources, cache,
                                           before.get(run.label))
        gains[run.label] = found
        return found

    silence = await loop.run_in_executor(pool, silent_frame, cache)
    silent = _cached(silence, "the silent frame")
    mixes: OrderedDict[str, np.ndarray] = OrderedDict()  # the last few, made again if asked
    mixes_lock = threading.Lock()
    # One lock per run: two chapters' limiters run side by side, one chapter's only once.
    mix_locks = {run.label: threading.Lock() for run in runs}

    def chapter_mix(run: Run) -> np.ndarray:
        """A run's whole mix at its gain (the limiter needs the whole chapter), made once."""
        with mix_locks[run.label]:
            with mixes_lock:
                made = mixes.get(run.label)
            if made is None:
                made = loudness.apply(sources.pcm("mix", run.start, run.end),
                                      gains[run.label].gain)
            with mixes_lock:
                mixes[run.label] = made
                mixes.move_to_end(run.label)
                while len(mixes) > KEPT_MIXES:
                    mixes.popitem(last=False)
            return made

    def track_pcm(track: str, lo: int, hi: int) -> np.ndarray:
        if track != "mix":
            return sources.pcm(track, lo, hi)
        out = np.zeros((2, hi - lo), np.float32)
        for run in runs:
            a, b = max(lo, run.start), min(hi, run.end)
            if a >= b:
                continue
            gain = gains[run.label].gain
            if gain.limit:  # the limiter's state runs along the chapter: the whole mix
                out[:, a - lo:b - lo] = chapter_mix(run)[:, a - run.start:b - run.start]
            else:  # a plain gain: only the stretch this piece needs is loaded
                out[:, a - lo:b - lo] = loudness.apply(sources.pcm("mix", a, b), gain)
        return out

    def sound_of(piece: Piece, track: str) -> Sound:
        """The piece's track: the silent frame, or its cache entry (made already or not)."""
        lo, hi = piece.a - PRE, piece.b + POST
        inputs = sources.overlapping(track, lo, hi)
        if not inputs:
            return Sound(silence.name, True, piece, track, silence)
        part: list[object] = [line.profile.key, track, piece.a, piece.b, piece.first, inputs]
        if track == "mix":
            part.append(_gains_over(runs, run_starts, gains, lo, hi))
        key = _key(*part)
        path = _entry(cache, key)
        return Sound(key, path.exists(), piece, track, path)

    counted = threading.Lock()
    new = done = 0
    shown = 0.0

    def advanced(made: int = 0, found: int = 0) -> None:
        """Progress over the new pieces known so far (a chapter's mix is known once it is
        measured), never shown going back."""
        nonlocal new, done, shown
        with counted:
            new, done = new + found, done + made
            shown = max(shown, done / new if new else 0.0)
        progress(shown)

    def heard(first: Piece, last: Piece) -> tuple[int, int]:
        """The samples an encode of the pieces first … last reads: theirs, their pre- and
        post-roll, and the priming frame before the film's first piece."""
        return first.a - PRE - first.first * SAMPLES_PER_FRAME, last.b + POST

    def some(group: list[Sound]) -> None:
        """Adjacent new pieces of one track: one encode, then each piece to the cache."""
        if stop.is_set():
            return
        track, (lo, hi) = group[0].track, heard(group[0].piece, group[-1].piece)
        pcm = track_pcm(track, lo, hi)
        # Frames silent after all (a quiet take, a gap between takes) are the silent frame.
        encoded = _pieces_frames(pcm, lo, [s.piece for s in group], silent)
        for sound, data in zip(group, encoded, strict=True):
            _write(sound.path, data)
            advanced(made=1)

    async def encoded(group: list[Sound]) -> None:
        lo, hi = heard(group[0].piece, group[-1].piece)
        near = [run for run in runs if run.start < hi and run.end > lo]
        await ready(near[0].first, near[-1].last)
        await loop.run_in_executor(pool, some, group)

    async def track_of(track: str, chosen: list[Piece], after: list[asyncio.Future[Measured]]
                       ) -> list[Sound]:
        """A track's sounds over `chosen` (adjacent pieces), planned once the measurements
        its keys need (`after`) are done; the new ones encoded in groups."""
        if after:
            await asyncio.wait(after)  # not gather: other chapters' mixes await these too
            for measured in after:
                measured.result()  # a failed measurement fails the sound
        found = await loop.run_in_executor(pool, lambda: [sound_of(p, track) for p in chosen])
        groups = _groups(found)
        advanced(found=sum(len(g) for g in groups))
        outcomes = await asyncio.gather(*(encoded(g) for g in groups), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return found

    # From here to the try, nothing awaits: every task made is in the try's care.
    measuring = [asyncio.ensure_future(measure(run)) for run in runs]
    every = pieces(line)
    names = tracks_of(line)
    jobs: list[tuple[str, asyncio.Future[list[Sound]]]] = [
        (name, asyncio.ensure_future(track_of(name, every, []))) for name in names
        if name != "mix"]
    # Each mix piece waits for every run its input spans: most for their own chapter's
    # measurement alone, those at its edges for a neighbour's too. Adjacent pieces that wait
    # for the same go together, so a chapter's mix does not wait for the next one's
    # segments (the last chapter's would be a whole chapter's encode after the last segment).
    def spanned(piece: Piece) -> tuple[int, ...]:
        lo, hi = heard(piece, piece)  # the runs it hears, by bisection: asked of every piece
        first = max(0, bisect.bisect_right(run_starts, lo) - 1)
        return tuple(k for k in range(first, bisect.bisect_left(run_starts, hi))
                     if runs[k].start < hi and runs[k].end > lo)

    for needs, alike in itertools.groupby(every, key=spanned):
        after = [measuring[k] for k in needs]
        jobs.append(("mix", asyncio.ensure_future(track_of("mix", list(alike), after))))
    everything = [*measuring, *(job for _, job in jobs)]
    try:
        measured = list(await asyncio.gather(*measuring))
        found = [await job for _, job in jobs]
    except BaseException:
        stop.set()  # encodes not started yet return at once; running ones finish
        await stopped(*everything)
        raise
    by_track: dict[str, list[Sound]] = {name: [] for name in names}
    for (name, _), sounds in zip(jobs, found, strict=True):
        by_track[name] += sounds
    return [*measured, *(s for name in names for s in by_track[name])]


def _groups(found: list[Sound]) -> list[list[Sound]]:
    """The new ones of a track's adjacent pieces: neighbours together, GROUP at most, a run
    of neighbours split evenly (20 as 10 and 10, not 16 and 4: the two encode side by side,
    and the last chapter's, which the build waits for, ends sooner)."""
    runs: list[list[Sound]] = []
    for sound in found:
        if sound.cached:
            continue
        last = runs[-1][-1] if runs else None
        if last is not None and last.piece.b == sound.piece.a:
            runs[-1].append(sound)
        else:
            runs.append([sound])
    groups: list[list[Sound]] = []
    for run in runs:
        count = -(-len(run) // GROUP)
        size, extra = divmod(len(run), count)
        at = 0
        for n in range(count):
            groups.append(run[at:at + size + (n < extra)])
            at += size + (n < extra)
    return groups


def _gains_over(runs: list[Run], starts: list[int], gains: dict[str, Measured], lo: int,
                hi: int) -> list[object]:
    """The gains of the runs a mix piece's input spans; a limited run's whole content too, as
    the limiter's state carries along the chapter. `starts`: the runs' (in order, end to end),
    so the few a piece spans are found by bisection: asked of every piece of the film."""
    found: list[object] = []
    first = max(0, bisect.bisect_right(starts, lo) - 1)
    for run in runs[first:bisect.bisect_left(starts, hi)]:
        if run.start < hi and run.end > lo:
            gain = gains[run.label]
            found.append([run.start - lo, run.end - lo, gain.gain.db, gain.gain.limit,
                          gain.key if gain.gain.limit else None])
    return found


@dataclass(frozen=True)
class Joined:
    """One track of the film: its AAC frames end to end (ADTS headers off, as an MP4 stores
    them), each frame's size, and an ADTS header of the encoder's (the decoder's config)."""

    header: bytes
    data: bytes
    sizes: np.ndarray


def join(line: Timeline, built: list[Sound | Measured]) -> list[Joined]:
    """The film's tracks (in tracks_of order), each its pieces' frames end to end."""
    tracks = []
    silent: dict[Path, bytes] = {}
    for track in tracks_of(line):
        datas: list[bytes | memoryview] = []
        sizes: list[np.ndarray] = []
        for sound in built:
            if isinstance(sound, Sound) and sound.track == track:
                if sound.path.name.startswith("silence-"):
                    if sound.path not in silent:
                        silent[sound.path] = adts.pack([_cached(sound.path, "the silent frame")])
                    frame, size = adts.unpack(silent[sound.path])
                    data = bytes(frame) * sound.piece.frames
                    lengths = np.full(sound.piece.frames, int(size[0]), dtype=np.int64)
                else:
                    data, lengths = _piece_frames(sound)
                if len(lengths):
                    datas.append(data)
                    sizes.append(lengths)
        tracks.append(Joined(adts.header(0), b"".join(datas),
                             np.concatenate(sizes) if sizes else np.zeros(0, np.int64)))
        datas.clear()  # the joined copy is the one kept
    return tracks


def _piece_frames(sound: Sound) -> tuple[memoryview, np.ndarray]:
    """A cached piece's raw AAC frames and their sizes: exactly its own number, or
    CacheDamaged."""
    try:
        data, lengths = adts.unpack(seal.unsealed(sound.path.read_bytes()))
    except (OSError, adts.BadADTS, seal.Broken) as exc:
        raise CacheDamaged(str(sound.path), f"a piece of the {sound.track} track cannot be "
                                            f"read ({type(exc).__name__})") from None
    if len(lengths) != sound.piece.frames:
        raise CacheDamaged(str(sound.path), f"a piece of the {sound.track} track holds "
                                            f"{len(lengths)} frames, not {sound.piece.frames}")
    return data, lengths


def frames_total(built: list[Sound | Measured]) -> int:
    """AAC frames in each track of the film."""
    return sum(s.piece.frames for s in built if isinstance(s, Sound) and s.track == "mix")


def counts(built: list[Sound | Measured]) -> tuple[int, int]:
    """Cache entries (pieces' tracks, loudness measurements) made now and reused; silent
    pieces are the one silent frame repeated and count as neither."""
    made = [s for s in built if not (isinstance(s, Sound) and s.path.name.startswith("silence-"))]
    encoded = sum(not s.cached for s in made)
    return encoded, len(made) - encoded


def record(built: list[Sound | Measured], folder: Path) -> None:
    """The cut's listing of the cache entries it uses (soundtrack.txt, which retention reads)
    and its gains and pieces (soundtrack.json, which the next cut's hysteresis reads)."""
    keys = dict.fromkeys(k for s in built
                         for k in ((s.key, *s.parts) if isinstance(s, Measured) else (s.key,)))
    (folder / "soundtrack.txt").write_text("".join(f"{k}\n" for k in keys), encoding="utf-8")
    gains = {m.label: {"db": m.gain.db, "limit": m.gain.limit,
                       "integrated": m.loudness.integrated if m.loudness else None,
                       "true_peak": m.loudness.true_peak if m.loudness else None,
                       "shots": list(m.parts)}
             for m in built if isinstance(m, Measured)}
    tracks: dict[str, list[list[object]]] = {}
    for s in built:
        if isinstance(s, Sound):
            tracks.setdefault(s.track, []).append([s.piece.a, s.piece.b, s.key, s.cached])
    (folder / "soundtrack.json").write_text(json.dumps({"gains": gains, "pieces": tracks}),
                                            encoding="utf-8")
