"""The film: written from the reels' pictures and the sound's pieces (nothing re-encoded),
then verified against its timeline, and a preview small enough to post.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from studio.cut import mp4, reels, soundtrack
from studio.cut.adts import PRIMING
from studio.cut.plan import OnProgress
from studio.cut.segments import short_reason
from studio.cut.timeline import SAMPLE_RATE, Timeline, track_title
from studio.media import (
    CacheDamaged,
    FFmpegFailed,
    facts_of,
    run_ffmpeg,
    write_concat_list,
)
from studio.ops.settings import Settings
from studio.waiting import stopped

FILM = "film.mp4"
PREVIEW_MIN_KBPS = 150  # the least video bitrate a preview is worth making at






async def stitch(line: Timeline, segments: list[Path], staging: Path, film: Path,
                  report: OnProgress,
                  sound: asyncio.Future[list[soundtrack.Sound | soundtrack.Measured]],
                  picture: asyncio.Future[list[reels.BuiltReel]]
                  ) -> tuple[list[soundtrack.Sound | soundtrack.Measured], Written]:
    """Write the film from the reels' pictures (`picture`, being read) and the sound's pieces
    (`sound`, being made): nothing is re-encoded."""
    write_concat_list(segments, staging / "segments.txt")
    report("mixing", 0.0)
    try:
        runs, made = await asyncio.gather(sound, picture)
    except BaseException:
        await stopped(sound, picture)
        raise
    soundtrack.record(runs, staging)
    (staging / "reels.txt").write_text("".join(f"{r.key}\n" for r in made), encoding="utf-8")
    report("stitching", 0.0)
    tracks = await asyncio.to_thread(soundtrack.join, line, runs)
    written = await asyncio.to_thread(_write_film, line, made, tracks, film)
    report("stitching", 1.0)
    return runs, written



@dataclass(frozen=True)
class Probe:
    """A sample the film must hold where its index says: the stream, its place in decode
    order, and its bytes as written."""

    stream: int  # 0 the picture, n the nth sound track
    sample: int
    ticks: int  # each sample's duration in the stream's timescale (stts holds one)
    data: bytes


@dataclass(frozen=True)
class Written:
    """The film as written: its size, and the samples verify reads back through ffmpeg."""

    size: int
    probes: list[Probe]


def _write_film(line: Timeline, made: list[reels.BuiltReel], tracks: list[soundtrack.Joined],
                film: Path) -> Written:
    p = line.profile
    picture = mp4.VideoTrack(p.width, p.height, p.timescale,
                             int(Fraction(p.timescale) / p.fps), made[0].delay, made[0].avcc,
                             [r.samples for r in made])
    sound = [mp4.audio_track(joined.header, joined.data, joined.sizes, track_title(track),
                             priming=PRIMING, default=n == 0)
             for n, (track, joined) in enumerate(zip(soundtrack.tracks_of(line), tracks,
                                                     strict=True))]
    try:
        size = mp4.write(film, picture, sound, line.production_title)
    except mp4.SamplesChanged as exc:
        # Its tables go: the reel is read again from its segments.
        raise CacheDamaged(str(exc.data.with_suffix(".json")), "the picture of a chapter's "
                           "reel changed on disk since it was read from its shots") from None
    return Written(size, _probes(picture, sound))


def _probes(picture: mp4.VideoTrack, sound: list[mp4.AudioTrack]) -> list[Probe]:
    """Each chunk's first and last sample in every track: if ffmpeg's index finds each of them
    where it was written, every chunk's offset and every sample's size between them agree."""
    probes: list[Probe] = []
    at = 0
    for reel in picture.reels:
        sizes = np.asarray(reel.sizes, dtype=np.int64)
        with reel.data.open("rb") as source:
            first = source.read(int(sizes[0]))
            source.seek(-int(sizes[-1]), 2)
            last = source.read()
        probes += [Probe(0, at, picture.frame_ticks, first),
                   Probe(0, at + len(sizes) - 1, picture.frame_ticks, last)]
        at += len(sizes)
    for n, track in enumerate(sound, start=1):
        ends = np.cumsum(track.sizes)
        unit = 0
        for span in track.spans:
            for k in sorted({unit, unit + span - 1}) if span else ():
                start = int(ends[k] - track.sizes[k])
                probes.append(Probe(n, k, track.samples_per_unit,
                                    bytes(track.data[start:int(ends[k])])))
            unit += span
    return probes


async def verify(film: Path, line: Timeline, audio_frames: int, written: Written) -> str | None:
    """None when the film matches its timeline: its size, its streams, its index, and each
    chunk's first and last sample found where it was written.

    Every segment and every sound piece was decoded end to end when it was made (cached ones
    when they were cached), and the film is their bitstreams copied. So here the file holds
    every byte written, ffmpeg's index counts a frame for each of the timeline's frames and
    every AAC frame of every track, and ffmpeg reads back, byte for byte, each chunk's first
    and last sample of every track (`written.probes`): the work grows with the chapters, not
    with the film's 100,000 packets."""
    if (found := _size(film)) != written.size:
        return (f"the film is {found} bytes; {written.size} were written: it was cut short "
                f"or changed")
    return await asyncio.to_thread(_inspect, film, line, audio_frames, written.probes)



def _inspect(film: Path, line: Timeline, audio_frames: int, probes: list[Probe]) -> str | None:
    """verify's reading of the film, opened once: its streams, its index and its samples."""
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
            return _index_problem(container, line, audio_frames) \
                or _misplaced(container, probes)
        except Exception as exc:  # PyAV raises many kinds; any of them means a broken film
            return f"it does not demux end to end ({type(exc).__name__}: {short_reason(str(exc))})"



def _index_problem(container: av.container.InputContainer, line: Timeline,
                   audio_frames: int) -> str | None:
    """The film's index: a picture for each of the timeline's frames, every AAC frame of every
    track, and the sound ending with the picture (within a frame and the last AAC frame)."""
    found = [(s.type, s.frames, float((s.start_time or 0) + (s.duration or 0))
              * float(s.time_base or 0)) for s in container.streams]
    picture = next(f for f in found if f[0] == "video")
    if picture[1] != line.frames:
        return f"it holds {picture[1]} picture frames; the timeline has {line.frames}"
    slack = line.profile.seconds(1) + 2 * 1024 / SAMPLE_RATE
    for n, (kind, count, end) in enumerate(f for f in found if f[0] == "audio"):
        assert kind == "audio"
        if count != audio_frames:
            return f"audio track {n} holds {count} AAC frames, not {audio_frames}"
        if abs(end - picture[2]) > slack:
            return f"audio track {n} ends at {end:.3f}s, the picture at {picture[2]:.3f}s"
    return None



def _misplaced(container: av.container.InputContainer, probes: list[Probe]) -> str | None:
    """Each probe's sample as ffmpeg reads it (its index's entry sought, sync or not),
    compared with the bytes written."""
    streams = [container.streams.video[0], *container.streams.audio]
    first_dts = {}
    for n, stream in enumerate(streams):
        # Before the first sample: the demuxer starts the stream at its first.
        container.seek(-(1 << 40), stream=stream, backward=True, any_frame=False)
        first_dts[n] = next(container.demux(stream)).dts
    for probe in probes:
        stream = streams[probe.stream]
        wanted = first_dts[probe.stream] + probe.sample * probe.ticks
        container.seek(wanted, stream=stream, backward=True, any_frame=True)
        packet = next((p for p in container.demux(stream)
                       if p.dts is None or p.dts >= wanted), None)
        what = "picture" if probe.stream == 0 else f"audio track {probe.stream - 1}"
        if packet is None or packet.dts != wanted:
            return (f"it does not demux end to end: the {what}'s sample {probe.sample} "
                    f"cannot be read")
        if bytes(packet) != probe.data:
            return (f"the {what}'s sample {probe.sample} is not what was written there: "
                    f"the film's index and its samples disagree")
    return None



async def preview(settings: Settings, film: Path, staging: Path, line: Timeline) -> Path | None:
    """A file small enough to post in Discord: the film itself when it fits, else a smaller one."""
    limit = settings.cut_preview_max_bytes
    if _size(film) <= limit:
        return film
    preview = staging / "preview.mp4"
    # Leave room for the audio at 64 kb/s; aim the video at what remains.
    video_kbps = int(limit * 8 * 0.9 / max(line.duration, 1) / 1000) - 64
    if video_kbps < PREVIEW_MIN_KBPS:
        # Too long to be watchable at that size (a feature film would get a few kb/s), and
        # its re-encode would cost every night more than the cut: the post links the film.
        return None
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



def _size(path: Path) -> int:
    return path.stat().st_size
