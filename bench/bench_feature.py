"""The cut at feature length: about 90 minutes (1,200 shots of 3-5 s in 50 chapters of 24, each
chapter with a VO and a music stem) on the default 640x360 profile, and half of it, each
built in a fresh process beside the floor measured in the same run (ffmpeg's concat demuxer
with stream copy over the same film's normalized segments: joining with nothing else done).

Figures, for each size: the full build's time and CPU (the bot's process and its workers);
an unchanged night (everything cached: the film written and verified again); the night after
one approval; the peak resident memory of the bot's process and of the segment workers. Then
how the incremental night and the peak memory grow from half the shots to all of them. A
build ends when its cut is published; the editor's package, written after, is timed apart and
waited for before anything else is measured.

Every take has content of its own (nothing is shared by accident through the caches): tiny
distinct stand-ins (96x54, a quarter with a sound of their own) made once with PyAV and kept
under bench/out/feature/, so a second run starts building at once.

Usage: python bench/bench_feature.py [--shots 1200]   (runs --shots/2 and --shots)
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import av
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from storage import shots  # noqa: E402
from studio.app import Studio  # noqa: E402
from studio.cut import build, normalize  # noqa: E402
from studio.generation import takes  # noqa: E402
from studio.media import ffmpeg_exe  # noqa: E402
from studio.ops.settings import load_settings  # noqa: E402
from studio.production import board, shotlist  # noqa: E402
from studio.production.people import actor  # noqa: E402

MEDIA = HERE / "out" / "feature"
PER_CHAPTER = 24
LENGTHS = (3, 4, 5)  # seconds, shot by shot: 4 s on average, 96 s a chapter
NIGHTS = 3  # one-approval nights, the median reported
RECIPE = "1"  # bump when the stand-ins change: the cached ones are made again
SIZE = (96, 54)
RATE = 24


def seconds_of(shot: int) -> int:
    return LENGTHS[shot % len(LENGTHS)]


def shot_list(count: int) -> bytes:
    lines = ["chapter,chapter_title,shot,description,duration"]
    for n in range(count):
        c, s = n // PER_CHAPTER + 1, n % PER_CHAPTER + 1
        lines.append(f"{c},Chapter {c},{s},Shot {c}.{s},{seconds_of(n)}")
    return ("\n".join(lines) + "\n").encode()


def take_path(n: int) -> Path:
    return MEDIA / f"take-{RECIPE}-{n:05d}.mp4"


def stem_path(chapter: int, kind: str) -> Path:
    return MEDIA / f"stem-{RECIPE}-{chapter:03d}-{kind}.flac"


def _seeded(n: int) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(f"take {n}".encode()).digest()[:8]))


def make_take(n: int, seconds: int) -> Path:
    """Take n: a gradient of its own colours with a square moving its own way; every fourth
    with a tone of its own pitch. Written beside and renamed: a killed run leaves none half."""
    path = take_path(n)
    if path.exists():
        return path
    rng = _seeded(n)
    w, h = SIZE
    base = np.zeros((h, w, 3), np.uint8)
    a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    ramp = np.linspace(0, 1, w)[None, :, None]
    base[:] = (a * (1 - ramp) + b * ramp).astype(np.uint8)
    x, y = rng.integers(0, w - 16), rng.integers(0, h - 16)
    dx, dy = rng.integers(-2, 3), rng.integers(-1, 2)
    colour = rng.integers(0, 256, 3).astype(np.uint8)
    partial = path.with_name(f".partial-{os.getpid()}-{path.name}")
    with av.open(str(partial), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=RATE, options={"preset": "ultrafast",
                                                               "crf": "28"})
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        sound = out.add_stream("aac", rate=48000, layout="mono") if n % 4 == 0 else None
        for i in range(seconds * RATE):
            frame = base.copy()
            px, py = (x + dx * i) % (w - 16), (y + dy * i) % (h - 16)
            frame[py:py + 16, px:px + 16] = colour
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            out.mux(video.encode(picture))
        out.mux(video.encode(None))
        if sound is not None:
            pitch = 300 + 7 * (n % 97)
            t = np.arange(seconds * 48000) / 48000
            pcm = (0.2 * np.sin(2 * np.pi * pitch * t)).astype(np.float32)
            for at in range(0, pcm.size, 1024):
                chunk = av.AudioFrame.from_ndarray(pcm[None, at:at + 1024], format="fltp",
                                                   layout="mono")
                chunk.sample_rate, chunk.pts = 48000, at
                out.mux(sound.encode(chunk))
            out.mux(sound.encode(None))
    os.replace(partial, path)
    return path


def make_stem(chapter: int, kind: str, seconds: int) -> Path:
    """A chapter's VO (a voice-like tone, on 1.5 s, off 0.7 s) or music (a soft chord)."""
    path = stem_path(chapter, kind)
    if path.exists():
        return path
    t = np.arange(seconds * 48000) / 48000
    if kind == "vo":
        pcm = 0.3 * np.sin(2 * np.pi * (140 + 3 * chapter) * t) * ((t % 2.2) < 1.5)
    else:
        pcm = sum(0.08 * np.sin(2 * np.pi * f * (1 + chapter / 200) * t) for f in (220, 277, 330))
    samples = (np.stack([pcm, pcm]) * 32767).astype("<i2")
    partial = path.with_name(f".partial-{os.getpid()}-{path.name}")
    with av.open(str(partial), "w", format="flac") as out:
        stream = out.add_stream("flac", rate=48000, layout="stereo")
        for at in range(0, samples.shape[1], 4096):
            chunk = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(samples[:, at:at + 4096].T.reshape(1, -1)), format="s16",
                layout="stereo")
            chunk.sample_rate, chunk.pts = 48000, at
            out.mux(stream.encode(chunk))
        out.mux(stream.encode(None))
    os.replace(partial, path)
    return path


def make_media(shots_: int) -> None:
    """Every take and stem the biggest size needs, made where missing (in parallel)."""
    MEDIA.mkdir(parents=True, exist_ok=True)
    chapters = -(-shots_ // PER_CHAPTER)
    jobs = [(make_take, (n, seconds_of(n))) for n in range(shots_)]
    jobs += [(make_take, (shots_ + k, seconds_of(_night_shot(shots_, k))))
             for k in range(NIGHTS)]
    jobs += [(make_stem, (c, kind, PER_CHAPTER * 4)) for c in range(1, chapters + 1)
             for kind in ("vo", "music")]
    missing = [(f, a) for f, a in jobs
               if not (take_path(a[0]) if f is make_take else stem_path(a[0], a[1])).exists()]
    if not missing:
        return
    start = time.perf_counter()
    with ProcessPoolExecutor(os.cpu_count() or 2) as pool:
        for done in [pool.submit(f, *a) for f, a in missing]:
            done.result()
    print(f"made {len(missing)} stand-in takes and stems in {time.perf_counter() - start:.1f} s "
          f"(kept in {MEDIA})", file=sys.stderr)


def _night_shot(shots_: int, k: int) -> int:
    """The shot the k-th night approves anew: in chapters spread over the film."""
    chapters = -(-shots_ // PER_CHAPTER)
    chapter = (k + 1) * chapters // (NIGHTS + 1)
    return min(shots_ - 1, chapter * PER_CHAPTER + 7 + k)


def floor_concat(listing: Path, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i",
                    str(listing), "-map", "0", "-c", "copy", str(out)], check=True)
    elapsed = time.perf_counter() - start
    out.unlink()
    return elapsed


def _ticks(pid: int) -> int:
    """CPU clock ticks a process has spent (user + system); 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def cpu_seconds() -> float:
    """CPU seconds spent by this process (the bot's) and its live segment workers."""
    mine = resource.getrusage(resource.RUSAGE_SELF)
    workers = sum(_ticks(pid) for pid in normalize.worker_pids())
    return mine.ru_utime + mine.ru_stime + workers / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    """A process's peak resident memory (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def one_size(count: int) -> dict[str, object]:
    """Everything measured at one size, in this (fresh) process."""
    with tempfile.TemporaryDirectory(prefix="bench-feature-") as tmp:
        root = Path(tmp)
        settings = load_settings(data_dir=root / "data", cut_keep=2, take_max_seconds=600,
                                 cut_credits_seconds=4)
        studio = await Studio.open(settings)
        try:  # closed on a failure too: its open connections would hold the exit
            warming = normalize.start_warming()  # as the bot does at start-up
            prod = await board.setup(studio.db, 1, "Feature")
            producer = await actor(studio.db, prod, "P", discord_id=1, is_producer=True)
            await shotlist.import_shots(studio.db, prod, producer, shot_list(count), "feature.csv")
            start = time.perf_counter()
            codes = [f"{n // PER_CHAPTER + 1}.{n % PER_CHAPTER + 1}" for n in range(count)]
            for n, code in enumerate(codes):
                await approve(studio, prod, producer, code, take_path(n))
            for c in range(1, -(-count // PER_CHAPTER) + 1):
                for kind in ("vo", "music"):
                    await takes.add_stem(studio, prod, producer, c, kind, stem_path(c, kind))
            print(f"[{count}] {count} takes and their stems uploaded in "
                  f"{time.perf_counter() - start:.1f} s", file=sys.stderr)
            await asyncio.wait([warming])

            cpu, start = cpu_seconds(), time.perf_counter()
            full = await build.build(studio, prod)
            full_s, full_cpu = time.perf_counter() - start, cpu_seconds() - cpu
            # The editor's package is written once the cut is published: waited for (and timed)
            # before anything else is measured, so no floor shares the machine with it.
            handoffs = [await handed_off(full, start + full_s)]
            assert full.encoded == len(full.timeline.entries), full.encoded
            print(f"[{count}] full build {full_s:.1f} s, {full_cpu:.1f} CPU-s; "
                  f"film {full.film.stat().st_size / 2**20:.0f} MiB, "
                  f"{full.timeline.duration / 60:.1f} min", file=sys.stderr)
            floors: list[float] = [floor_concat(full.directory / "segments.txt", root / "f0.mp4")]

            start = time.perf_counter()
            same = await build.build(studio, prod)
            unchanged_s = time.perf_counter() - start
            handoffs.append(await handed_off(same, start + unchanged_s))
            assert same.encoded == 0 and same.sound_encoded == 0, same
            floors.append(floor_concat(same.directory / "segments.txt", root / "f1.mp4"))

            nights: list[float] = []
            last = same
            for k in range(NIGHTS):
                await approve(studio, prod, producer, codes[_night_shot(count, k)],
                              take_path(count + k))
                start = time.perf_counter()
                nightly = await build.nightly(studio, prod)
                nights.append(time.perf_counter() - start)
                assert nightly is not None and nightly.encoded == 1, nightly
                handoffs.append(await handed_off(nightly, start + nights[-1]))
                last = nightly
                floors.append(floor_concat(last.directory / "segments.txt",
                                           root / f"f{k + 2}.mp4"))
            workers = [peak_rss_mib(pid) for pid in normalize.worker_pids()]
        finally:
            await studio.close()
    floor_s = statistics.median(floors)
    return {"shots": count, "minutes": round(full.timeline.duration / 60, 1),
            "full_s": full_s, "full_cpu": full_cpu, "unchanged_s": unchanged_s,
            "night_s": statistics.median(nights), "nights": nights, "floor_s": floor_s,
            "floors": floors, "sound_encoded": last.sound_encoded,
            "handoff_full_s": handoffs[0], "handoff_night_s": statistics.median(handoffs[2:]),
            "bot_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "worker_rss": max(workers, default=0.0),
            "full_stages": full.timings, "unchanged_stages": same.timings,
            "night_stages": last.timings}


async def handed_off(result: build.CutResult, published: float) -> float:
    """Seconds from the cut's publication to its editor's package written."""
    assert await build.handed_off(result) is not None
    return time.perf_counter() - published


async def approve(studio: Studio, prod: object, who: object, code: str, path: Path) -> None:
    stored = await takes.add_take(studio, prod, who, code, path)  # type: ignore[arg-type]
    async with studio.db.transaction() as tx:
        await shots.update(tx, stored.take.shot_id, approved_take_id=stored.take.id,
                           status="approved")


def run_size(count: int) -> dict[str, object]:
    """One size in a fresh process: its peak memory is its own."""
    done = subprocess.run([sys.executable, __file__, "--one", str(count)],
                          capture_output=True, text=True)
    sys.stderr.write(done.stderr)  # the child's progress, and its traceback if it failed
    if done.returncode != 0:
        raise SystemExit(f"bench_feature: the {count}-shot run failed (exit {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def stages(spent: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in spent.items())


def report(small: dict, big: dict) -> None:
    cores = os.cpu_count()
    for r in (small, big):
        n = r["shots"]
        print(f"{n} shots ({r['minutes']} min of film), {cores} cores:")
        print(f"  full build {r['full_s']:.1f} s, CPU {r['full_cpu']:.1f} s (bot and workers); "
              f"floor (concat copy of the film's segments) {r['floor_s']:.2f} s")
        print(f"    by stage (s): {stages(r['full_stages'])}")
        print(f"  unchanged night {r['unchanged_s']:.2f} s; floor {r['floor_s']:.2f} s; ratio "
              f"{r['unchanged_s'] / r['floor_s']:.2f}x (target <= 1.0x)")
        print(f"    by stage (s): {stages(r['unchanged_stages'])}")
        print(f"  night after one approval (median of "
              f"{', '.join(f'{b:.2f}' for b in r['nights'])} s): {r['night_s']:.2f} s, "
              f"{r['sound_encoded']} sound cache entries encoded; floor {r['floor_s']:.2f} s "
              f"(median of {', '.join(f'{f:.2f}' for f in r['floors'])}); ratio "
              f"{r['night_s'] / r['floor_s']:.2f}x (target <= 1.5x)")
        print(f"    by stage (s): {stages(r['night_stages'])}")
        print(f"  the editor's hand-off, written after publication: {r['handoff_full_s']:.2f} s "
              f"after the full build, {r['handoff_night_s']:.2f} s after a night (median)")
        print(f"  peak RSS: bot {r['bot_rss']:.0f} MiB, workers {r['worker_rss']:.0f} MiB")
    growth = big["night_s"] / small["night_s"]
    print(f"incremental night {small['shots']} -> {big['shots']} shots: {small['night_s']:.2f}"
          f" -> {big['night_s']:.2f} s, {growth:.2f}x (target <= 1.3x)")
    for who in ("bot", "worker"):
        print(f"peak RSS of the {who} {small['shots']} -> {big['shots']} shots: "
              f"{small[who + '_rss']:.0f} -> {big[who + '_rss']:.0f} MiB, "
              f"{big[who + '_rss'] / small[who + '_rss']:.2f}x (target <= 1.2x)")
    n = big["shots"]
    figures = [
        (f"feature night after one approval ({n} shots)", big["night_s"], big["floor_s"], "s"),
        (f"feature unchanged night ({n} shots)", big["unchanged_s"], big["floor_s"], "s"),
        (f"feature full build ({n} shots)", big["full_s"], big["floor_s"], "s"),
        (f"feature full build CPU ({n} shots)", big["full_cpu"], big["floor_s"], "CPU-s"),
        (f"feature night after one approval ({small['shots']} shots)", small["night_s"],
         small["floor_s"], "s"),
        (f"feature night growth {small['shots']} -> {n} shots", big["night_s"],
         small["night_s"], "s"),
        (f"feature bot peak RSS {small['shots']} -> {n} shots", big["bot_rss"],
         small["bot_rss"], "MiB"),
        (f"feature worker peak RSS {small['shots']} -> {n} shots", big["worker_rss"],
         small["worker_rss"], "MiB"),
    ]
    for name, figure, floor, unit in figures:
        print(json.dumps({"bench": name, "figure": round(figure, 3), "floor": round(floor, 3),
                          "ratio": round(figure / floor, 2), "unit": unit}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=1200,
                        help="the bigger size; half of it is built too (default 1200)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # one size, this process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(asyncio.run(one_size(args.one))))
        return
    if args.shots < 2 * PER_CHAPTER:
        parser.error(f"--shots must be at least {2 * PER_CHAPTER}")
    make_media(args.shots)
    small = run_size(args.shots // 2)
    big = run_size(args.shots)
    report(small, big)


if __name__ == "__main__":
    main()
