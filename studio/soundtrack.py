"""The film's sound, built a run at a time (a run is a chapter, or the end credits).

Each run's tracks (the mix, the takes' own sound, one per stem kind) are encoded to AAC once and
cached by the run's content; the film's tracks are the runs' ADTS frames joined end to end, so
an approval re-encodes only its chapter's sound. The mix of each run is brought to the loudness
target in two passes (each chapter at the target puts the film at it, and evens out chapters
made by different creators).

Gapless joins: ffmpeg's AAC encoder starts every run with one frame (1024 samples) of priming.
Runs are laid on a global grid of 1024-sample frames: a run's frames begin `lead` samples in,
its priming is the short silence before its chapter's sound, and its sound is delayed inside
the run so that it starts on the chapter's first sample, exactly. Nothing drifts however many
runs there are; the cost is that the last 1024–2047 samples (21–43 ms at 48 kHz) of a chapter's
sound give way to the next run's priming. The film's first priming frame is skipped by the
MP4 edit list.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av

from studio import adts
from studio.adts import PRIMING, SAMPLES_PER_FRAME
from studio.loudness import MEASURE, Loudness, gain_filter, measured_loudness
from studio.media import ffmpeg_version, run_ffmpeg, write_concat_list
from studio.timeline import SAMPLE_RATE, Timeline

# Bump when the commands below change: old cached runs then stop matching.
RECIPE = "1"
AAC = ["-c:a", "aac", "-b:a", "128k", "-ar", str(SAMPLE_RATE), "-ac", "2", "-f", "adts"]
FORMAT = f"aresample={SAMPLE_RATE},aformat=sample_fmts=fltp:channel_layouts=stereo"


@dataclass(frozen=True)
class Run:
    """A stretch of the film whose sound is encoded as one piece."""

    first: int  # index of its first entry in the timeline
    last: int  # index after its last entry
    start: int  # sample where its sound starts (its first entry's first sample)
    lead: int  # sample where its AAC frames start: a multiple of 1024, before `start`
    end: int  # sample where the next run's frames start (or the film's end, rounded up)
    stems: tuple[int, ...]  # indices into the timeline's stems

    @property
    def input_samples(self) -> int:
        """Samples fed to the encoder: the delay, then the sound heard in this run."""
        return self.end - self.lead - PRIMING

    @property
    def delay(self) -> int:
        return self.start - self.lead - PRIMING

    @property
    def heard(self) -> int:
        return self.end - self.start

    @property
    def frames(self) -> int:
        return 1 + self.input_samples // SAMPLES_PER_FRAME


@dataclass(frozen=True)
class BuiltRun:
    run: Run
    key: str
    folder: Path
    cached: bool


def tracks_of(line: Timeline) -> list[str]:
    """The film's audio tracks in order: the mix, the takes' own sound, one per stem kind."""
    return ["mix", "takes", *line.stem_kinds]


def _grid(sample: int) -> int:
    """The frame boundary at least one priming frame before `sample`."""
    return (sample - PRIMING) // SAMPLES_PER_FRAME * SAMPLES_PER_FRAME


def plan(line: Timeline) -> list[Run]:
    """Runs: one per chapter and one for the credits; a run too short for a frame of its own
    sound joins the one before."""
    p = line.profile
    firsts: list[int] = []
    group: object = None
    for i, entry in enumerate(line.entries):
        this = ("credits" if entry.kind == "credits" else entry.chapter_number)
        if this != group:
            firsts.append(i)
            group = this
    heads: list[tuple[int, int, int]] = []  # (entry index, start sample, lead)
    for i in firsts:
        start = p.samples(line.entries[i].start_frame)
        lead = _grid(start)
        if heads and lead - heads[-1][2] < 2 * SAMPLES_PER_FRAME:
            continue
        heads.append((i, start, lead))
    total = p.samples(line.frames)
    end = -(-total // SAMPLES_PER_FRAME) * SAMPLES_PER_FRAME
    if len(heads) > 1 and end - heads[-1][2] < 2 * SAMPLES_PER_FRAME:
        heads.pop()
    end = max(end, heads[-1][2] + 2 * SAMPLES_PER_FRAME)
    runs = []
    for n, (i, start, lead) in enumerate(heads):
        last = heads[n + 1][0] if n + 1 < len(heads) else len(line.entries)
        run_end = heads[n + 1][2] if n + 1 < len(heads) else end
        chapters = {e.chapter_number for e in line.entries[i:last] if e.kind != "credits"}
        stems = tuple(k for k, s in enumerate(line.stems) if s.chapter_number in chapters)
        runs.append(Run(i, last, start, lead, run_end, stems))
    return runs


def run_key(line: Timeline, run: Run, segments: list[Path]) -> str:
    p = line.profile
    stems = [(line.stems[k].media_sha256, line.stems[k].kind,
              p.samples(line.stems[k].start_frame) - run.start, p.samples(line.stems[k].frames))
             for k in run.stems]
    text = json.dumps([RECIPE, ffmpeg_version(), p.key, p.lufs,
                       [s.name for s in segments[run.first:run.last]], stems, line.stem_kinds,
                       run.delay, run.heard, run.input_samples])
    return hashlib.sha256(text.encode()).hexdigest()


def _graph(line: Timeline, run: Run, *, mix: str | None, tracks: list[str]) -> str:
    """The run's audio graph. With `mix`, [mix] is takes and stems through that loudness chain;
    `tracks` are the separate tracks wanted as [takes] and [kind_<kind>]. Every output is
    delayed and padded to the run's input length."""
    p = line.profile
    place = (f"adelay={run.delay}S:all=1," if run.delay else "") + (
        f"apad=whole_len={run.input_samples},atrim=end_sample={run.input_samples}")
    heard = run.heard
    parts: list[str] = []
    mix_inputs: list[str] = []

    def fan(source: str, name: str, to_track: bool, to_mix: bool) -> None:
        outs = ([f"[{name}_t]"] if to_track else []) + ([f"[{name}_m]"] if to_mix else [])
        if not outs:
            parts.append(f"{source}anullsink")
            return
        split = "anull" if len(outs) == 1 else "asplit=2"
        parts.append(f"{source}{split}{''.join(outs)}")
        if to_track:
            parts.append(f"[{name}_t]{place}[{'takes' if name == 'takes' else 'kind_' + name}]")
        if to_mix:
            mix_inputs.append(f"[{name}_m]")

    fan(f"[0:a:0]{FORMAT},atrim=end_sample={heard},apad=whole_len={heard},", "takes",
        "takes" in tracks, mix is not None)
    for n, k in enumerate(run.stems):
        stem = line.stems[k]
        offset = p.samples(stem.start_frame) - run.start
        parts.append(f"[{n + 1}:a:0]{FORMAT},atrim=end_sample={p.samples(stem.frames)},"
                     + (f"adelay={offset}S:all=1," if offset else "")
                     + f"apad=whole_len={heard},atrim=end_sample={heard}[s{n}]")
    for kind in line.stem_kinds:
        members = [f"[s{n}]" for n, k in enumerate(run.stems) if line.stems[k].kind == kind]
        if not members:
            continue
        joined = "anull" if len(members) == 1 else (
            f"amix=inputs={len(members)}:duration=longest:normalize=0")
        fan(f"{''.join(members)}{joined},", kind, kind in tracks, mix is not None)
    if mix is not None:
        joined = "anull" if len(mix_inputs) == 1 else (
            f"amix=inputs={len(mix_inputs)}:duration=first:normalize=0")
        parts.append(f"{''.join(mix_inputs)}{joined},{mix},{place}[mix]")
    return ";".join(parts)


def silent(line: Timeline, run: Run) -> set[str]:
    """The run's tracks that hold no sound: made of silent frames, never encoded."""
    quiet = {k for k in line.stem_kinds
             if not any(line.stems[i].kind == k for i in run.stems)}
    takes = line.entries[run.first:run.last]
    if not any(e.kind == "take" and e.media_has_audio for e in takes):
        quiet.add("takes")
        if not run.stems:
            quiet.add("mix")
    return quiet


async def silent_frame(cache: Path) -> bytes:
    """One AAC frame of digital silence from this ffmpeg: it decodes to zeros anywhere."""
    key = hashlib.sha256(f"{RECIPE}|{ffmpeg_version()}".encode()).hexdigest()[:16]
    kept = cache / f"silence-{key}.aac"
    if kept.exists():
        return kept.read_bytes()
    os.makedirs(cache, exist_ok=True)
    made = cache / f".partial-silence-{os.getpid()}-{secrets.token_hex(4)}.aac"
    try:
        await run_ffmpeg(["-v", "error", "-f", "lavfi", "-i",
                          f"anullsrc=channel_layout=stereo:sample_rate={SAMPLE_RATE}",
                          "-t", "0.2", *AAC, str(made)])
        frame = adts.frames_of(made.read_bytes())[2]  # past the encoder's first frames
    finally:
        made.unlink(missing_ok=True)
    kept.write_bytes(frame)
    return frame


async def _encode(line: Timeline, run: Run, segments: list[Path], stem_files: list[Path],
                  folder: Path, silence: bytes) -> None:
    """Into `folder`: the mix in two passes (measure, then encode at the gain that brings it to
    the target) beside the other tracks that have sound; silent tracks are silent frames."""
    listing = write_concat_list(segments[run.first:run.last], folder / "segments.txt")
    inputs = ["-f", "concat", "-safe", "0", "-i", str(listing)]
    for k in run.stems:
        inputs += ["-i", str(stem_files[k])]
    quiet = silent(line, run)
    loud = [t for t in tracks_of(line) if t not in quiet]
    separate = [t for t in loud if t != "mix"]

    def encode(tracks: list[str], mix: str | None) -> list[str]:
        outputs: list[str] = []
        for track in tracks:
            label = track if track in ("mix", "takes") else f"kind_{track}"
            outputs += ["-map", f"[{label}]", *AAC, str(folder / f"{track}.aac")]
        return ["-v", "error", *inputs, "-filter_complex",
                _graph(line, run, mix=mix, tracks=[t for t in tracks if t != "mix"]), *outputs]

    async def mix() -> Loudness | None:
        err = await run_ffmpeg(["-v", "info", *inputs, "-filter_complex",
                                _graph(line, run, mix=MEASURE, tracks=[]),
                                "-map", "[mix]", "-f", "null", "-"])
        measured = measured_loudness(err)
        await run_ffmpeg(encode(["mix"], gain_filter(measured, line.profile.lufs)))
        return measured

    # The separate tracks need no measurement: they are encoded while the mix is measured.
    jobs = [asyncio.ensure_future(mix() if "mix" in loud else _nothing())]
    if separate:
        jobs.append(asyncio.ensure_future(run_ffmpeg(encode(separate, None))))
    try:
        measured = (await asyncio.gather(*jobs))[0]
    except BaseException:
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        raise
    for track in tracks_of(line):
        if track in quiet:
            (folder / f"{track}.aac").write_bytes(silence * run.frames)
        else:
            adts.keep_frames(folder / f"{track}.aac", run.frames)
    problem = await asyncio.to_thread(_decode_problem, folder, loud, run.frames)
    if problem:
        raise adts.BadADTS(problem)
    record = {"integrated": measured.integrated if measured else None,
              "true_peak": measured.true_peak if measured else None,
              "target": line.profile.lufs, "frames": run.frames, "silent": sorted(quiet)}
    (folder / "loudness.json").write_text(json.dumps(record), encoding="utf-8")


async def _nothing() -> None:
    return None


def _decode_problem(folder: Path, tracks: list[str], frames: int) -> str | None:
    """Decode each new track end to end: cached runs were all decoded once, when made."""
    for track in tracks:
        samples = 0
        try:
            with av.open(str(folder / f"{track}.aac")) as container:
                for frame in container.decode(audio=0):
                    samples += frame.samples
        except av.error.FFmpegError as exc:
            return f"the {track} track of a chapter does not decode ({exc})"
        if samples != frames * SAMPLES_PER_FRAME:
            return f"the {track} track decodes to {samples} samples, not {frames * 1024}"
    return None


async def build(line: Timeline, segments: list[Path], stem_files: list[Path], cache: Path,
                on_progress: Callable[[float], None] | None = None) -> list[BuiltRun]:
    """Every run's tracks, from the cache where the run is unchanged, else encoded now."""
    runs = plan(line)
    built: list[BuiltRun | None] = [None] * len(runs)
    todo = []
    for n, run in enumerate(runs):
        key = run_key(line, run, segments)
        folder = cache / key[:2] / key
        if (folder / "loudness.json").exists():
            built[n] = BuiltRun(run, key, folder, cached=True)
        else:
            todo.append((n, run, key, folder))
    limit = asyncio.Semaphore(max(2, os.cpu_count() or 2))
    done = 0
    silence = await silent_frame(cache) if todo else b""

    async def one(n: int, run: Run, key: str, folder: Path) -> None:
        nonlocal done
        async with limit:
            folder.parent.mkdir(parents=True, exist_ok=True)
            # Written beside, renamed whole: a killed build leaves no half-made run behind.
            partial = folder.with_name(f".partial-{os.getpid()}-{secrets.token_hex(4)}-{key}")
            partial.mkdir()
            try:
                await _encode(line, run, segments, stem_files, partial, silence)
                try:
                    os.replace(partial, folder)
                except OSError:  # the same run, made at the same moment by another shot
                    if not (folder / "loudness.json").exists():
                        raise
            finally:
                shutil.rmtree(partial, ignore_errors=True)
            built[n] = BuiltRun(run, key, folder, cached=False)
            done += 1
            if on_progress:
                on_progress(done / len(todo))

    tasks = [asyncio.ensure_future(one(*item)) for item in todo]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return [b for b in built if b is not None]


def join(line: Timeline, runs: list[BuiltRun], staging: Path) -> list[Path]:
    """The film's tracks, each the runs' frames end to end (in tracks_of order)."""
    return [adts.join([r.folder / f"{track}.aac" for r in runs], staging / f"{track}.aac")
            for track in tracks_of(line)]


def frames_total(runs: list[BuiltRun]) -> int:
    return sum(r.run.frames for r in runs)
