"""Segments made in-process through PyAV, a batch a call: decode, filter, encode, decode-check,
write, seal.

This runs inside a worker process of studio/normalize.py's pool (user uploads are decoded
here, so a libav crash kills a worker, not the bot). It imports only PyAV, the error type, the
seal, avc.py and the malloc tuning, so the pool's processes start light. Output: a .mov with
H.264 yuv420p (the same SPS/PPS for a profile, closed GOPs from an IDR, exactly `frames`
pictures) and PCM s16le stereo 48 kHz (exactly `samples` samples), sealed with the CRC-32 of
the picture samples that were decode-checked and of the PCM (studio/seal.py), both computed
from the bytes given to the muxer, which writes them as they are.
"""

from __future__ import annotations

import io
import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.filter
from av.container import InputContainer

from studio.cut import avc, seal
from studio.media import FFmpegFailed
from studio.ops.memory import keep_freed_memory

SAMPLE_RATE = 48000
PCM_CHUNK = 4800  # samples per PCM packet written: a tenth of a second, few to write and read


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
    """The fixed libx264 settings every segment shares (identical streams for stream copy).
    Two B-frames placed without the lookahead's trials (b-adapt 0): as small and as sharp on
    our tests, a tenth less encoding."""
    gop = max(1, round(fps * 2))
    return {"preset": "veryfast", "crf": "23", "profile": "high", "level": "4.1",
            "g": str(gop), "bf": "2", "x264-params": "scenecut=0:open-gop=0:b-adapt=0",
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


def start_worker(parent_pid: int) -> None:
    """Pool initializer: watch the bot, keep freed memory (each segment frees what the next
    needs), then rehearse: the first real segment waits for nothing."""
    watch_parent(parent_pid)
    keep_freed_memory()
    rehearse()


@dataclass(frozen=True)
class Job:
    """One segment to make: from which file, what kind of take, to what shape, to where."""

    source: str
    kind: str
    has_audio: bool
    shape: Shape
    target: str


# What became of a job: True made now, False already there, or why its take cannot be made.
Outcome = bool | str


def make_batch(jobs: list[Job]) -> list[Outcome]:
    """Make each job's segment in turn (written beside its target, checked, renamed into place):
    one trip to the worker for several segments. A take that cannot be made gets its reason;
    the others are made all the same.

    Each segment has an encoder of its own. One encoder fed across a batch (an IDR forced at
    each segment's first picture) was measured and not kept: with the workers' malloc tuning
    an encoder opens in 2 ms, x264 alone was 2% cheaper that way, and a worker's segments as
    dear or dearer (bench_cut prints the two x264 figures)."""
    return [_make(job) for job in jobs]


def _make(job: Job) -> Outcome:
    final = Path(job.target)
    if final.exists():
        return False
    # Named with this worker's pid: an operator (or a test) can see who is writing what.
    partial = final.with_name(f".partial-{os.getpid()}-{secrets.token_hex(4)}-{final.name}")
    try:
        partial.touch()
    except FileNotFoundError:  # the first segment of its folder
        final.parent.mkdir(parents=True, exist_ok=True)
        partial.touch()
    try:
        try:
            encoder, pcm = _encode(job)
        except FFmpegFailed as exc:
            return str(exc)
        with encoder:
            problem = encoder.problem() or PictureCheck(job.shape, encoder.avcc).feed(
                encoder.samples)
            if problem is not None:
                return problem
            _write(partial, job.shape, encoder, pcm)
        os.replace(partial, final)
        return True
    finally:
        partial.unlink(missing_ok=True)


def rehearse() -> None:
    """A worker's first act: a tiny segment in memory, so libx264 and the filters are loaded."""
    try:
        shape = Shape(64, 36, Fraction(24), 24, 2, 0)
        avcc, samples = black_samples(shape)
        PictureCheck(shape, avcc).feed(samples)
    except Exception:  # a warm-up only: the real segment reports its own failure
        return


def black_samples(shape: Shape) -> tuple[bytes, list[av.Packet]]:
    """A black segment's picture samples, as they are written, and their avcC record."""
    with _Encoder(shape) as encoder:
        for picture in _black(shape):
            encoder.send(picture)
        encoder.flush()
        return encoder.avcc, encoder.samples


def configure(ctx: av.CodecContext, shape: Shape) -> None:
    """The picture encoder's settings, the same for every segment of a profile."""
    ctx.width, ctx.height, ctx.pix_fmt = shape.width, shape.height, "yuv420p"
    ctx.options = encoder_options(shape.fps)
    ctx.thread_count = 1  # many small segments in parallel beat one threaded encoder
    ctx.time_base = Fraction(1) / shape.fps
    ctx.framerate = shape.fps
    ctx.sample_aspect_ratio = Fraction(1)
    # One colour description for every segment (BT.709, limited): one SPS for the film.
    ctx.color_range, ctx.colorspace, ctx.color_primaries, ctx.color_trc = 1, 1, 1, 1


class PictureCheck:
    """A segment's pictures decoded from its own samples, as written, by a decoder of its own
    (as a reader meets them): exactly its frames, at its size (the cut's "decodes end to
    end")."""

    def __init__(self, shape: Shape, avcc: bytes) -> None:
        self.shape = shape
        self.avcc = avcc
        self.pictures = 0
        self.wrong_size = 0

    def feed(self, samples: list[av.Packet]) -> str | None:
        """Decode `samples` (length-prefixed) and flush; why the segment is unusable, or None."""
        try:
            decoder = av.CodecContext.create("h264", "r")
            decoder.extradata = self.avcc
            decoder.thread_count = 1  # as the source's decoder: the pool fills the cores
            for sample in [*samples, None]:
                self._count(decoder.decode(sample))
        except Exception as exc:  # PyAV raises many kinds; any of them means unusable
            return f"the normalized file cannot be read ({type(exc).__name__})"
        if self.pictures != self.shape.frames:
            return f"the normalized file decodes to {self.pictures} frames, not {self.shape.frames}"
        if self.wrong_size:
            return "the normalized file decodes to pictures of another size than the profile's"
        return None

    def _count(self, frames: list[av.VideoFrame]) -> None:
        for frame in frames:
            self.pictures += 1
            if (frame.width, frame.height) != (self.shape.width, self.shape.height):
                self.wrong_size += 1


class _Encoder:
    """A segment's libx264 encoder, opened in a stream of a file in memory that is never
    written: that stream's parameters (size, colours, aspect, profile) are the template of the
    segment's own. Its pictures are kept as MP4 samples, length-prefixed here so that the
    muxer writes these very bytes (avc.py): the bytes that are decode-checked and sealed."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self.host = av.open(io.BytesIO(), "w", format="mov")
        self.template = self.host.add_stream("libx264", rate=shape.fps,
                                             options=encoder_options(shape.fps))
        self.ctx = self.template.codec_context
        configure(self.ctx, shape)
        self.host.start_encoding()  # opens the encoder: its SPS/PPS apart, in its extradata
        self.avcc = avc.avcc_record(bytes(self.ctx.extradata or b""))
        self.base = self.ctx.time_base
        self.sent = 0
        self.samples: list[av.Packet] = []
        self.crc = 0  # of the samples' bytes

    def __enter__(self) -> _Encoder:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.host.close()

    def send(self, picture: av.VideoFrame) -> None:
        # Counted here, not by a setpts: a held frame is sent again with the next number.
        picture.pts, picture.time_base = self.sent, self.base
        self.sent += 1
        self._keep(self.ctx.encode(picture))

    def flush(self) -> None:
        self._keep(self.ctx.encode(None))

    def problem(self) -> str | None:
        if len(self.samples) != self.sent:
            return f"the encoder gave {len(self.samples)} pictures, not {self.sent}"
        first = self.samples[0] if self.samples else None
        if first is None or not (first.is_keyframe
                                 and avc.IDR in avc.sample_nal_types(bytes(first))):
            return "the normalized picture does not start on an IDR"
        return None

    def _keep(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            data = avc.length_prefixed(bytes(packet))
            sample = av.Packet(data)
            sample.pts, sample.dts, sample.duration = packet.pts, packet.dts, packet.duration
            sample.time_base, sample.is_keyframe = self.base, packet.is_keyframe
            self.crc = seal.crc(data, self.crc)
            self.samples.append(sample)


def _encode(job: Job) -> tuple[_Encoder, bytes]:
    """The take's pictures encoded, and its sound for the segment's length; FFmpegFailed."""
    shape = job.shape
    if job.kind != "audio" or job.has_audio:
        _readable(Path(job.source))
    encoder = _Encoder(shape)
    try:
        with _source(Path(job.source), job.kind, job.has_audio) as container:
            sound = _Sound(container, shape.samples) if job.has_audio and container else None
            for n, picture in enumerate(_pictures(container, job.kind, shape, sound)):
                if n >= shape.frames:
                    break
                encoder.send(picture)
            # A take with no sound gets silence for its length.
            pcm = sound.rest() if sound is not None else bytes(shape.samples * 4)
        encoder.flush()
    except BaseException:
        encoder.close()
        raise
    return encoder, pcm


def _write(partial: Path, shape: Shape, encoder: _Encoder, pcm: bytes) -> None:
    """The segment's file: its picture samples and its PCM, then the seal of both."""
    with av.open(str(partial), "w", format="mov",
                 options={"video_track_timescale": str(shape.timescale)}) as output:
        output.metadata.clear()
        # The encoder's parameters with the avcC record: no codec opened, and the muxer
        # writes the length-prefixed samples as they are.
        video = output.add_stream_from_template(encoder.template)
        video.codec_context.extradata = encoder.avcc
        audio = output.add_stream("pcm_s16le", rate=SAMPLE_RATE, layout="stereo")
        audio.codec_context.format = "s16"
        for sample in encoder.samples:
            sample.stream = video
            output.mux_one(sample)
        for start in range(0, shape.samples, PCM_CHUNK):
            chunk = pcm[start * 4:(start + PCM_CHUNK) * 4]
            frame = av.AudioFrame(format="s16", layout="stereo", samples=len(chunk) // 4)
            frame.planes[0].update(chunk)
            frame.sample_rate = SAMPLE_RATE
            frame.pts = start
            frame.time_base = Fraction(1, SAMPLE_RATE)
            output.mux(audio.encode(frame))
        output.mux(audio.encode(None))
    # PCM is written as it is given, the pictures as they were length-prefixed: the CRCs of
    # what a reader demuxes, with no second read of the file.
    with partial.open("ab") as out:
        out.write(seal.segment_box(encoder.crc, seal.crc(pcm)))


def seal_segment(segment: Path) -> None:
    """Append the seal to a segment made elsewhere: the CRC-32 of the picture packets and of
    the PCM as a reader demuxes them."""
    found = {"video": 0, "audio": 0}
    with av.open(str(segment)) as container:
        for packet in container.demux():
            kind = packet.stream.type
            if packet.size and kind in found:
                found[kind] = seal.crc(memoryview(packet), found[kind])
    with segment.open("ab") as out:
        out.write(seal.segment_box(found["video"], found["audio"]))


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
    graph.threads = 1  # slice threads only contend with the pool's other workers
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


@contextmanager
def _source(source: Path, kind: str, has_audio: bool) -> Iterator[InputContainer | None]:
    """The take opened once for its pictures and its sound; None when neither is read."""
    if kind == "audio" and not has_audio:
        yield None
        return
    with _open(source) as container:
        yield container


class _Sound:
    """The shot's sound as s16le stereo 48 kHz, padded with silence (apad) and cut (atrim),
    decoded from the packets met while the pictures are read, then from the rest."""

    def __init__(self, container: InputContainer, samples: int) -> None:
        self.container = container
        self.stream = next(iter(container.streams.audio), None)
        self.wanted = samples * 4
        self.have = 0
        self.ended = False
        self.pieces: list[bytes] = []
        self.resampler = _Resampler()
        # Where the sound and the picture start on the take's clock (seconds): the sound is
        # cut or led in with silence so that it starts at the picture's first frame.
        self.sound_start: Fraction | None = None
        self.picture_start: Fraction | None = None
        self.unanchored = False  # no picture to follow (a sound-only take): starts as it starts
        self.lead: int | None = None

    def anchor(self, picture_start: Fraction) -> None:
        """The presentation time of the take's first picture: the segment's zero."""
        self.picture_start = picture_start

    def _lead(self) -> int | None:
        """Samples of the sound before the first picture (cut); negative: silence to lead in;
        None while the two starts are not both known."""
        if self.unanchored:
            return 0
        if self.lead is None and self.picture_start is not None \
                and self.sound_start is not None:  # both set once: worked out once (Fractions)
            self.lead = round((self.picture_start - self.sound_start) * SAMPLE_RATE)
        return self.lead

    def _enough(self) -> bool:
        lead = self._lead()
        return lead is not None and self.have >= self.wanted + max(0, lead) * 4

    def feed(self, packet: av.Packet) -> None:
        if self._enough() or self.ended:
            return  # enough sound: the rest of the take's is never decoded
        try:
            if packet.size == 0:
                self.ended = True  # the demuxer's end of stream: its decode flushes
            for frame in packet.decode():
                if self.sound_start is None:
                    self.sound_start = (frame.pts * frame.time_base
                                        if frame.pts is not None and frame.time_base else
                                        _stream_start(self.stream))
                frame.pts = None  # resampled by count, placed by sound_start
                for out in self.resampler.resample(frame):
                    self.pieces.append(bytes(out.planes[0])[:out.samples * 4])
                    self.have += out.samples * 4
        except (av.error.FFmpegError, ValueError) as exc:
            raise FFmpegFailed(f"its sound cannot be decoded ({type(exc).__name__})") from None

    def rest(self) -> bytes:
        """Read on from where the pictures stopped until the shot's length or the sound's end."""
        if self.stream is None:
            raise FFmpegFailed("it holds no sound stream")
        self.unanchored = self.picture_start is None
        try:
            if not self._enough() and not self.ended:
                for packet in self.container.demux(self.stream):
                    self.feed(packet)
                    if self._enough():
                        break
            if not self._enough():
                for out in self.resampler.resample(None):
                    self.pieces.append(bytes(out.planes[0])[:out.samples * 4])
        except (av.error.FFmpegError, ValueError) as exc:
            raise FFmpegFailed(f"its sound cannot be decoded ({type(exc).__name__})") from None
        lead = self._lead() or 0
        sound = b"".join(self.pieces)
        # Sound that starts before the picture is cut; sound that starts after it waits.
        sound = sound[lead * 4:] if lead > 0 else bytes(-lead * 4) + sound
        sound = sound[:self.wanted]
        return sound + bytes(self.wanted - len(sound))


def _stream_start(stream: av.audio.stream.AudioStream | None) -> Fraction:
    """A stream's first time as its header gives it (for frames that carry none): 0 if unknown."""
    if stream is None or stream.start_time is None or not stream.time_base:
        return Fraction(0)
    return stream.start_time * stream.time_base


class _Resampler:
    """av.AudioResampler's graph (abuffer, aformat s16 stereo 48 kHz) with one thread: its
    default thread pool costs two thread starts a segment and only contends with the pool."""

    def __init__(self) -> None:
        self.graph: av.filter.Graph | None = None
        self.passthrough = False

    def resample(self, frame: av.AudioFrame | None) -> list[av.AudioFrame]:
        if self.passthrough:
            return [frame] if frame is not None else []
        if self.graph is None:
            if frame is None:
                return []
            if (frame.format.name, frame.layout.name, frame.sample_rate) == (
                    "s16", "stereo", SAMPLE_RATE):
                self.passthrough = True
                return [frame]
            self.graph = av.filter.Graph()
            self.graph.threads = 1
            extra = {"time_base": str(frame.time_base)} if frame.time_base is not None else {}
            head = self.graph.add("abuffer", sample_rate=str(frame.sample_rate),
                                  sample_fmt=frame.format.name,
                                  channel_layout=frame.layout.name, **extra)
            shape = self.graph.add("aformat", sample_rates=str(SAMPLE_RATE), sample_fmts="s16",
                                   channel_layouts="stereo")
            sink = self.graph.add("abuffersink")
            head.link_to(shape)
            shape.link_to(sink)
            self.graph.configure()
        self.graph.push(frame)
        out: list[av.AudioFrame] = []
        while True:
            try:
                out.append(self.graph.pull())
            except (av.error.BlockingIOError, av.error.EOFError):
                return out


def _pictures(container: InputContainer | None, kind: str, shape: Shape,
              sound: _Sound | None) -> Iterator[av.VideoFrame]:
    """The shot's pictures in yuv420p; the last one held (tpad clone) to the shot's length.
    The sound's packets met on the way go to `sound`: the take is read once."""
    if kind == "audio" or container is None:
        yield from _black(shape)
        return
    last: av.VideoFrame | None = None
    made = 0
    try:
        stream = next(iter(container.streams.video), None)
        if stream is None:
            raise FFmpegFailed("it holds no picture stream")
        stream.codec_context.thread_count = 1  # the pool's workers already fill the cores
        graph: av.filter.Graph | None = None
        head = None
        first_pts: int | None = None
        base = stream.time_base or Fraction(1, 90000)
        tick = 1 / ((stream.average_rate or shape.fps) * base)
        heard = [sound.stream] if sound is not None and sound.stream is not None else []

        def decoded() -> Iterator[av.VideoFrame | None]:
            """The source's pictures timed from zero, then None: the graph's flush."""
            nonlocal first_pts
            count = 0
            for packet in container.demux(stream, *heard):
                if packet.stream.type != "video":
                    sound.feed(packet)  # type: ignore[union-attr]  # heard only with a sound
                    continue
                for frame in packet.decode():
                    if frame.pts is None:  # some AVIs carry no timestamps: count the frames
                        frame.pts = round(count * tick)
                    count += 1
                    if first_pts is None:
                        first_pts = frame.pts
                        if sound is not None:  # the sound is placed against this picture
                            sound.anchor(first_pts * base)
                    frame.pts -= first_pts  # the film starts at the take's first picture
                    frame.pict_type = 0  # the source's keyframes must not force ours
                    yield frame
                    if kind == "image":
                        yield None
                        return
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
