"""Media facts: where ffmpeg is, and what a file really holds (probed, never trusted by name).

Probing uses PyAV (FFmpeg's libraries in a wheel), so no ffprobe binary is needed; ffmpeg
itself comes from the system when present, else from the imageio-ffmpeg wheel.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from studio.errors import InvalidInput

IMAGE_CODECS = {"png", "mjpeg", "jpeg2000", "webp", "bmp", "tiff", "gif", "jpegls"}
IMAGE_CONTAINERS = {"image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe",
                    "gif", "gif_pipe", "j2k_pipe"}


@functools.cache
def ffmpeg_exe() -> str:
    """The ffmpeg binary: the system's when installed, else the one imageio-ffmpeg ships."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@functools.cache
def ffmpeg_version() -> str:
    """The ffmpeg version line: part of every cache key built from ffmpeg's output."""
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-version"], capture_output=True,
                         text=True, check=False).stdout
    return out.splitlines()[0] if out else "unknown"


@dataclass(frozen=True)
class Probe:
    """What a media file holds, as FFmpeg reads it."""

    kind: str  # video | image | audio
    container: str
    duration: float | None
    width: int | None = None
    height: int | None = None
    fps: Fraction | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    has_audio: bool = False
    audio_streams: int = 0

    @property
    def is_portrait(self) -> bool:
        return bool(self.width and self.height and self.height > self.width)


def _fps(stream: av.video.stream.VideoStream) -> Fraction | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate:
        return None
    return Fraction(rate.numerator, rate.denominator).limit_denominator(1001)


def probe(path: Path | str, *, decode_check: bool = True, timed: bool = True) -> Probe:
    """Probe a file; raise InvalidInput naming the problem when it is not usable media.

    With decode_check, the first frames are decoded too: a truncated or corrupt file whose
    header still parses is caught here rather than in the nightly cut. Without `timed`, a
    video or sound whose header gives no duration (a raw .h264) has duration None.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        raise InvalidInput("the file could not be read") from None
    if size == 0:
        raise InvalidInput("the file is empty (0 bytes)")
    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError):
        raise InvalidInput("the file is not video, image or audio that FFmpeg can read") from None
    with container:
        video = next((s for s in container.streams.video), None)
        audios = list(container.streams.audio)
        audio = audios[0] if audios else None
        if video is None and audio is None:
            raise InvalidInput("the file holds no video, image or audio stream")
        fmt = container.format.name.split(",")[0]
        duration = None
        if container.duration is not None and container.duration > 0:
            duration = container.duration / av.time_base
        elif video is not None and video.duration and video.time_base:
            duration = float(video.duration * video.time_base)
        if video is not None:
            codec = video.codec_context.name
            still = fmt in IMAGE_CONTAINERS or (codec in IMAGE_CODECS and (video.frames or 0) <= 1
                                                and not duration)
            if video.codec_context.width == 0 or video.codec_context.height == 0:
                raise InvalidInput("the video stream has no picture size: the file is damaged")
            result = Probe(
                kind="image" if still and audio is None else "video",
                container=fmt,
                duration=None if still and audio is None else duration,
                width=video.codec_context.width,
                height=video.codec_context.height,
                fps=None if still else _fps(video),
                video_codec=codec,
                audio_codec=audio.codec_context.name if audio else None,
                has_audio=audio is not None,
                audio_streams=len(audios),
            )
        else:
            assert audio is not None
            result = Probe(kind="audio", container=fmt, duration=duration,
                           audio_codec=audio.codec_context.name, has_audio=True,
                           audio_streams=len(audios))
        if decode_check:
            _decode_some(container, video if video is not None else audio)
    if timed and result.kind != "image" and not result.duration:
        raise InvalidInput("the file has no duration: it is empty or damaged")
    return result


def _decode_some(container: av.container.InputContainer, stream: av.stream.Stream) -> None:
    """Decode a few frames: a corrupt file fails here even when its header parses."""
    decoded = 0
    try:
        for frame in container.decode(stream):
            del frame
            decoded += 1
            if decoded >= 3:
                break
    except (av.error.FFmpegError, ValueError):
        raise InvalidInput("the file is damaged: its frames cannot be decoded") from None
    if decoded == 0:
        raise InvalidInput("the file is damaged: it holds no decodable frame")


class FFmpegFailed(Exception):
    """ffmpeg exited with an error: the message is the end of what it printed."""


# What reading a file PyAV cannot make sense of raises: a damaged or foreign file, any of them.
UNREADABLE = (av.error.FFmpegError, OSError, ValueError, IndexError)


class CacheDamaged(FFmpegFailed):
    """A cache entry (a segment, a sound piece) that cannot be read back: each was checked
    when made, so the disk damaged it since. The cut removes it and makes it again."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)  # both in args: it is pickled back from a worker
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


async def run_ffmpeg(
    args: list[str], *, total_seconds: float | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> str:
    """Run ffmpeg with `args`; report 0..1 from its -progress output; return its stderr.

    A cancelled caller kills ffmpeg: a build that is stopped leaves no process behind.
    """
    argv = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-nostats",
            "-progress", "pipe:1", *args]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        stderr_task = asyncio.ensure_future(proc.stderr.read())  # type: ignore[union-attr]
        assert proc.stdout is not None
        async for raw in proc.stdout:
            key, _, value = raw.decode(errors="replace").strip().partition("=")
            if key == "out_time_us" and on_progress and total_seconds and value.isdigit():
                on_progress(min(1.0, int(value) / 1e6 / total_seconds))
        err = (await stderr_task).decode(errors="replace")
        code = await proc.wait()
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if code != 0:
        tail = " ".join(err.strip().splitlines()[-3:])[-400:]
        raise FFmpegFailed(tail or f"ffmpeg exited with {code}")
    return err


def concat_line(path: Path, folders: dict[str, str] | None = None) -> str:
    """One line of a concat demuxer list: absolute path, each ' written as '\\''.
    `folders`: folders already made absolute, by their text (a feature film's list is written
    every night, and Path arithmetic and resolving its 256 cache shards cost it 0.2 s)."""
    parent, name = os.path.split(os.fspath(path))
    if folders is None:
        folders = {}
    if parent not in folders:
        folders[parent] = os.path.abspath(parent)  # not resolved: ffmpeg follows links itself
    text = os.path.join(folders[parent], name)
    if "\n" in text or "\r" in text:
        raise InvalidInput("a media path holds a line break")
    return "file '" + text.replace("'", "'\\''") + "'"


def write_concat_list(paths: list[Path], target: Path) -> Path:
    folders: dict[str, str] = {}
    target.write_text("ffconcat version 1.0\n"
                      + "".join(concat_line(p, folders) + "\n" for p in paths),
                      encoding="utf-8")
    return target


def read_concat_list(listing: Path) -> list[Path]:
    """The files a list from write_concat_list names, in order."""
    return [Path(name) for name in concat_names(listing.read_text(encoding="utf-8"))]


def concat_names(text: str) -> list[str]:
    """The paths a concat list's text names, as strings (retention reads a thousand of them a
    night and needs only their names: a Path each would cost more than the reading)."""
    return [line[6:-1].replace("'\\''", "'") for line in text.splitlines()
            if line.startswith("file '")]


@dataclass(frozen=True)
class StreamFacts:
    kind: str
    codec: str
    title: str
    width: int | None = None
    height: int | None = None


def streams_of(path: Path | str) -> tuple[float, list[StreamFacts]]:
    """The container's duration and each stream's kind, codec and title."""
    with av.open(str(path)) as container:
        return facts_of(container)


def facts_of(container: av.container.InputContainer) -> tuple[float, list[StreamFacts]]:
    """streams_of for a container already open."""
    duration = (container.duration or 0) / av.time_base
    found = []
    for s in container.streams:
        title = s.metadata.get("title", "") or s.metadata.get("handler_name", "")
        w = s.codec_context.width if s.type == "video" else None
        h = s.codec_context.height if s.type == "video" else None
        found.append(StreamFacts(s.type, s.codec_context.name, title, w, h))
    return duration, found


# ffprobe's container name (first of its aliases) → extension, when the codec does not decide.
_BY_CONTAINER = {
    "jpeg_pipe": ".jpg", "png_pipe": ".png", "webp_pipe": ".webp", "gif": ".gif",
    "bmp_pipe": ".bmp", "tiff_pipe": ".tif", "mp3": ".mp3", "wav": ".wav", "aac": ".aac",
    "flac": ".flac", "ogg": ".ogg", "avi": ".avi", "mpegts": ".ts", "aiff": ".aiff",
}
_IMAGE_CODECS = {"mjpeg": ".jpg", "png": ".png", "webp": ".webp", "gif": ".gif",
                 "bmp": ".bmp", "tiff": ".tif"}
_WEBM_CODECS = {"vp8", "vp9", "av1", "opus", "vorbis"}


def suffix_for(container: str, kind: str, video_codec: str | None, audio_codec: str | None
               ) -> str:
    """The extension a player expects for a file of this probed format (not its upload's name):
    a JPEG thumbnail of a video is `.jpg`, an MP3 voice take `.mp3`."""
    container = container.split(",")[0]
    if container in ("mov", "mp4"):  # ffprobe names the ISO family 'mov,mp4,m4a,…'
        return ".m4a" if kind == "audio" else ".mp4"
    if container in ("matroska", "webm"):
        codecs = {video_codec, audio_codec} - {None}
        return ".webm" if codecs and codecs <= _WEBM_CODECS else ".mkv"
    if container == "ogg" and audio_codec == "opus":
        return ".opus"
    if container in _BY_CONTAINER:
        return _BY_CONTAINER[container]
    if kind == "image" and video_codec in _IMAGE_CODECS:
        return _IMAGE_CODECS[video_codec or ""]
    if container == "image2":  # a still whose codec was not recorded (thumbnails are JPEG)
        return ".jpg"
    return ""
