"""Everything about an upload is checked before anything of it is stored.

In order, each refusal one line naming the limit or the damage: the size in bytes; the
picture's size (each side, and width x height against SLATE_UPLOAD_MAX_PIXELS), read from the
header before a single pixel is decoded; the kind; the duration the header gives; then the
whole file decoded, picture and sound, up to SLATE_TAKE_MAX_SECONDS: a cut-off or damaged file
whose header parses is refused at upload rather than found by the night's cut, and a raw stream
with no duration in its header (a .h264) is timed by its frames.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from pathlib import Path

import av
from PIL import Image

from studio.errors import InvalidInput
from studio.media import Probe, probe
from studio.units import size_text

MAX_SIDE = 16384  # the largest picture side FFmpeg's encoders take
# Frame timings wobble: a file may end this much past its header's duration, or the limit.
SLACK_S = 0.5
# A file whose pictures and sound stop this much before its header's duration is cut off.
CUT_OFF_S, CUT_OFF_SHARE = 0.5, 0.05


@dataclasses.dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_pixels: int
    max_seconds: float


def check(path: Path, limits: Limits, *, allowed: tuple[str, ...]) -> Probe:
    """The file's facts, or InvalidInput with the one reason it is refused (blocking: run it
    in a thread)."""
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise InvalidInput(f"the file is {size_text(size)}; the limit is "
                           f"{size_text(limits.max_bytes)}")
    try:
        found = probe(path, decode_check=False, timed=False)
    except InvalidInput:
        _check_header(path, limits)  # past ~268 MP FFmpeg says 0x0: Pillow reads the header
        raise
    _check_picture(found.width, found.height, limits)
    if found.kind not in allowed:
        raise InvalidInput(f"the file is {found.kind}; expected {' or '.join(allowed)}")
    longest = limits.max_seconds
    if found.duration and found.duration > longest:
        raise InvalidInput(f"the file lasts {found.duration:.1f} s; at most {longest:g} s")
    lasts = _decode_all(path, found, longest)
    if found.kind == "image":
        return found
    if found.duration is None:
        if not lasts:
            raise InvalidInput("the file has no duration: it holds no timed picture or sound")
        return dataclasses.replace(found, duration=lasts)
    if lasts < found.duration - max(CUT_OFF_S, CUT_OFF_SHARE * found.duration):
        raise InvalidInput(f"the file is cut off: it stops at {lasts:.1f} s of the "
                           f"{found.duration:.1f} s its header promises")
    return found


def _check_picture(width: int | None, height: int | None, limits: Limits,
                   pixels: int | None = None) -> None:
    if width and height:
        if max(width, height) > MAX_SIDE:
            raise InvalidInput(f"the picture is {width}x{height} px; each side may be at most "
                               f"{MAX_SIDE} px")
        pixels = width * height
    if pixels and pixels > limits.max_pixels:
        shown = f"{width}x{height} px, " if width and height else ""
        raise InvalidInput(f"the picture is {shown}{pixels / 1e6:.1f} megapixels; the limit is "
                           f"{limits.max_pixels / 1e6:g} megapixels (SLATE_UPLOAD_MAX_PIXELS)")


_BOMB = re.compile(r"\((\d+) pixels\)")


def _header_size(path: Path) -> tuple[int | None, int | None, int | None]:
    """An image's width and height from its header alone (FFmpeg reports 0x0 past ~268 MP)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return image.width, image.height, None
    except Image.DecompressionBombError as exc:  # Pillow read the size, then refused it
        counted = _BOMB.search(str(exc))
        return None, None, int(counted.group(1)) if counted else None
    except Exception:  # not an image Pillow knows: FFmpeg's header read decides
        return None, None, None


def _check_header(path: Path, limits: Limits) -> None:
    width, height, pixels = _header_size(path)
    _check_picture(width, height, limits, pixels)


def _decode_all(path: Path, found: Probe, longest: float) -> float:
    """Decode the first picture and sound streams to the end; return where they stop (s)."""
    with av.open(str(path)) as container:
        streams = [s for s in (next(iter(container.streams.video), None),
                               next(iter(container.streams.audio), None)) if s is not None]
        for stream in streams:
            stream.thread_type = "AUTO"
        ends = {s.index: 0.0 for s in streams}
        counted = dict.fromkeys(ends, 0)
        what = "pictures"
        try:
            for packet in container.demux(streams):
                what = "pictures" if packet.stream.type == "video" else "sound"
                for frame in packet.decode():
                    index = packet.stream.index
                    counted[index] += 1
                    ends[index] = max(ends[index], _end_of(frame, packet, counted[index]))
                    if found.kind == "image":
                        return 0.0
                    if ends[index] > longest + SLACK_S:
                        raise InvalidInput(f"the file lasts more than {longest:g} s; at most "
                                           f"{longest:g} s")
        except (av.error.FFmpegError, ValueError):
            at = max(ends.values(), default=0.0)
            raise InvalidInput(f"the file is damaged: its {what} cannot be decoded past "
                               f"{at:.1f} s") from None
        if not any(counted.values()):
            raise InvalidInput("the file is damaged: it holds no decodable frame")
        return max(ends.values())


def _end_of(frame: av.frame.Frame, packet: av.Packet, count: int) -> float:
    """When the frame ends: from its timestamp, else from how many came before it."""
    if isinstance(frame, av.AudioFrame):
        length = frame.samples / (frame.sample_rate or 1)
    else:
        length = float(packet.duration * packet.time_base) \
            if packet.duration and packet.time_base else 0.0
        rate = packet.stream.average_rate or packet.stream.guessed_rate
        if not length and rate:
            length = 1 / float(rate)
    if frame.time is not None:
        return frame.time + length
    return count * length
