"""One segment made in-process through PyAV: decode, filter, encode, write, decode-check.

This runs inside a worker process of studio/normalize.py's pool (user uploads are decoded
here, so a libav crash kills a worker, not the bot). It imports only PyAV and the error type,
so the pool's processes start light. Output: a .mov with H.264 yuv420p (the same SPS/PPS for
a profile, closed GOPs from an IDR, exactly `frames` pictures) and PCM s16le stereo 48 kHz
(exactly `samples` samples).
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.filter

from studio.media import FFmpegFailed

SAMPLE_RATE = 48000
PCM_CHUNK = 1024  # samples per PCM packet written


@dataclass(frozen=True)
class Shape:
    """What the segment is made to: the profile's picture and the shot's exact length."""

    width: int
    height: int
    fps: Fraction
    timescale: int
    frames: int
    samples: int


def encoder_options(fps: Fraction) -> dict[str, str]:
    """The fixed libx264 settings every segment shares (identical streams for stream copy)."""
    gop = max(1, round(fps * 2))
    return {"preset": "veryfast", "crf": "23", "profile": "high", "level": "4.1",
            "g": str(gop), "bf": "2", "x264-params": "scenecut=0:open-gop=0",
            "threads": "1"}


def watch_parent(parent_pid: int) -> None:
    """Pool initializer: a worker whose bot is gone (even SIGKILLed) exits instead of lingering."""
    def watch() -> None:
        while True:
            time.sleep(0.5)
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:  # the pid was reused by another user's process
                os._exit(0)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def make(source: str, kind: str, has_audio: bool, shape: Shape, target: str) -> bool:
    """Write the segment beside `target`, check it, rename it into place; False if it was there."""
    final = Path(target)
    if final.exists():
        return False
    # Named with this worker's pid: an operator (or a test) can see who is writing what.
    partial = final.with_name(f".partial-{os.getpid()}-{secrets.token_hex(4)}-{final.name}")
    try:
        _write(Path(source), kind, has_audio, shape, partial)
        problem = check(partial, shape)
        if problem:
            raise FFmpegFailed(problem)
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return True


def _write(source: Path, kind: str, has_audio: bool, shape: Shape, out: Path) -> None:
    if kind != "audio" or has_audio:
        _readable(source)
    with av.open(str(out), "w", format="mov",
                 options={"video_track_timescale": str(shape.timescale)}) as output:
        output.metadata.clear()
        video = output.add_stream("libx264", rate=shape.fps, options=encoder_options(shape.fps))
        video.width, video.height, video.pix_fmt = shape.width, shape.height, "yuv420p"
        ctx = video.codec_context
        ctx.thread_count = 1  # many small segments in parallel beat one threaded encoder
        ctx.time_base = Fraction(1) / shape.fps
        ctx.sample_aspect_ratio = Fraction(1)
        # One colour description for every segment (BT.709, limited): one SPS for the film.
        ctx.color_range, ctx.colorspace, ctx.color_primaries, ctx.color_trc = 1, 1, 1, 1
        audio = output.add_stream("pcm_s16le", rate=SAMPLE_RATE, layout="stereo")
        audio.codec_context.format = "s16"
        pictures = _pictures(source, kind, shape)
        for n, frame in enumerate(pictures):
            if n >= shape.frames:
                break
            # Counted here, not by a setpts: a held frame is sent again with the next number.
            frame.pts, frame.time_base = n, ctx.time_base
            output.mux(video.encode(frame))
        output.mux(video.encode(None))
        sound = _sound(source, has_audio, shape.samples)
        for start in range(0, shape.samples, PCM_CHUNK):
            chunk = sound[start * 4:(start + PCM_CHUNK) * 4]
            frame = av.AudioFrame(format="s16", layout="stereo", samples=len(chunk) // 4)
            frame.planes[0].update(chunk)
            frame.sample_rate = SAMPLE_RATE
            frame.pts = start
            frame.time_base = Fraction(1, SAMPLE_RATE)
            output.mux(audio.encode(frame))
        output.mux(audio.encode(None))


def _readable(source: Path) -> None:
    try:
        size = source.stat().st_size
    except OSError:
        raise FFmpegFailed("its file cannot be read") from None
    if size == 0:
        raise FFmpegFailed("its file is empty (0 bytes)")


def _open(source: Path) -> av.container.InputContainer:
    try:
        return av.open(str(source), "r")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError):
        raise FFmpegFailed("FFmpeg cannot read it: not video, image or audio") from None


def _picture_graph(first: av.VideoFrame, stream: av.video.stream.VideoStream, shape: Shape,
                   *, retime: bool) -> tuple[av.filter.Graph, av.filter.context.FilterContext]:
    """fps (for moving pictures), scale keeping aspect + pad, square pixels, yuv420p."""
    w, h = shape.width, shape.height
    graph = av.filter.Graph()
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate or shape.fps
    sar = stream.codec_context.sample_aspect_ratio or Fraction(1)
    head = graph.add("buffer", video_size=f"{first.width}x{first.height}",
                     pix_fmt=str(int(av.VideoFormat(first.format.name))),
                     time_base=str(stream.time_base or Fraction(1, 90000)),  # as _pictures
                     pixel_aspect=str(sar), frame_rate=str(rate))
    chain = [("fps", str(shape.fps))] if retime else []
    chain += [("scale", f"{w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2:"
                        "out_range=tv:out_color_matrix=bt709"),
              ("pad", f"{w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black"), ("setsar", "1"),
              ("format", "yuv420p"), ("buffersink", None)]
    last = head
    for name, args in chain:
        node = graph.add(name, args) if args is not None else graph.add(name)
        last.link_to(node)
        last = node
    graph.configure()
    return graph, head


def _pull(graph: av.filter.Graph) -> Iterator[av.VideoFrame]:
    while True:
        try:
            yield graph.vpull()
        except (av.error.BlockingIOError, av.error.EOFError):
            return


def _pictures(source: Path, kind: str, shape: Shape) -> Iterator[av.VideoFrame]:
    """The shot's pictures in yuv420p; the last one held (tpad clone) to the shot's length."""
    if kind == "audio":
        yield from _black(shape)
        return
    last: av.VideoFrame | None = None
    made = 0
    try:
        with _open(source) as container:
            stream = next(iter(container.streams.video), None)
            if stream is None:
                raise FFmpegFailed("it holds no picture stream")
            stream.codec_context.thread_count = 1  # the pool's workers already fill the cores
            graph: av.filter.Graph | None = None
            head = None
            first_pts: int | None = None
            base = stream.time_base or Fraction(1, 90000)
            tick = 1 / ((stream.average_rate or shape.fps) * base)

            def decoded() -> Iterator[av.VideoFrame | None]:
                """The source's pictures timed from zero, then None: the graph's flush."""
                nonlocal first_pts
                for count, frame in enumerate(container.decode(stream)):
                    if frame.pts is None:  # some AVIs carry no timestamps: count the frames
                        frame.pts = round(count * tick)
                    first_pts = frame.pts if first_pts is None else first_pts
                    frame.pts -= first_pts  # the film starts at the take's first picture
                    frame.pict_type = 0  # the source's keyframes must not force ours
                    yield frame
                    if kind == "image":
                        break
                yield None

            for frame in decoded():
                if graph is None:
                    if frame is None:
                        break  # not one picture decoded
                    graph, head = _picture_graph(frame, stream, shape, retime=kind != "image")
                head.push(frame)
                for out in _pull(graph):
                    last, made = out, made + 1
                    yield out
                    if made >= shape.frames:
                        return
    except (av.error.FFmpegError, ValueError) as exc:
        raise FFmpegFailed(f"its pictures cannot be decoded ({type(exc).__name__})") from None
    if last is None:
        raise FFmpegFailed("it holds no decodable picture")
    while made < shape.frames:
        made += 1
        yield last


def _black(shape: Shape) -> Iterator[av.VideoFrame]:
    frame = av.VideoFrame(shape.width, shape.height, "rgb24")
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    picture = frame.reformat(format="yuv420p")
    for _ in range(shape.frames):
        yield picture


def _sound(source: Path, has_audio: bool, samples: int) -> bytes:
    """The shot's sound as s16le stereo 48 kHz, padded with silence (apad) and cut (atrim)."""
    wanted = samples * 4
    if not has_audio:
        return bytes(wanted)  # a take with no sound gets silence for its length
    pieces: list[bytes] = []
    have = 0
    resampler = av.AudioResampler(format="s16", layout="stereo", rate=SAMPLE_RATE)
    try:
        with _open(source) as container:
            stream = next(iter(container.streams.audio), None)
            if stream is None:
                raise FFmpegFailed("it holds no sound stream")
            for frame in container.decode(stream):
                frame.pts = None  # resampled by count: the segment's sound starts at zero
                for out in resampler.resample(frame):
                    pieces.append(bytes(out.planes[0])[:out.samples * 4])
                    have += out.samples * 4
                if have >= wanted:
                    break
            else:
                for out in resampler.resample(None):
                    pieces.append(bytes(out.planes[0])[:out.samples * 4])
    except (av.error.FFmpegError, ValueError) as exc:
        raise FFmpegFailed(f"its sound cannot be decoded ({type(exc).__name__})") from None
    sound = b"".join(pieces)[:wanted]
    return sound + bytes(wanted - len(sound))


def check(path: Path, shape: Shape) -> str | None:
    """The new segment decoded end to end: exactly its frames and samples, nothing else."""
    try:
        with av.open(str(path)) as container:
            kinds = sorted(s.type for s in container.streams)
            if kinds != ["audio", "video"]:
                return f"the normalized file holds {kinds}"
            container.streams.video[0].codec_context.thread_count = 1  # as in _pictures
            pictures = samples = 0
            for frame in container.decode(video=0, audio=0):
                if isinstance(frame, av.VideoFrame):
                    pictures += 1
                else:
                    samples += frame.samples
    except Exception as exc:  # PyAV raises many kinds; any of them means unusable
        return f"the normalized file cannot be read ({type(exc).__name__})"
    if pictures != shape.frames:
        return f"the normalized file decodes to {pictures} frames, not {shape.frames}"
    if samples != shape.samples:
        return f"the normalized file decodes to {samples} samples, not the shot's length"
    return None
