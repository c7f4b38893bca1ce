"""AAC in ADTS: a stream of self-delimiting frames, so runs encoded apart join by concatenation.

ffmpeg's AAC encoder puts 1024 samples of priming before the sound (one frame); a run that
keeps exactly 1 + n frames therefore plays 1024 + n·1024 samples, with no padding frame to
shift what follows.
"""

from __future__ import annotations

from pathlib import Path

SAMPLES_PER_FRAME = 1024
PRIMING = 1024  # ffmpeg's native AAC encoder delay, in samples


class BadADTS(Exception):
    """The bytes are not a whole number of ADTS frames."""


def frames_of(data: bytes) -> list[bytes]:
    """Split ADTS bytes into frames (header included); raise BadADTS on a broken stream."""
    frames: list[bytes] = []
    at = 0
    while at < len(data):
        if len(data) - at < 7 or data[at] != 0xFF or data[at + 1] & 0xF6 != 0xF0:
            raise BadADTS(f"no ADTS sync word at byte {at}")
        length = ((data[at + 3] & 0x03) << 11) | (data[at + 4] << 3) | (data[at + 5] >> 5)
        if length < 7 or at + length > len(data):
            raise BadADTS(f"a frame at byte {at} runs past the end")
        frames.append(data[at:at + length])
        at += length
    return frames


def keep_frames(path: Path, count: int) -> None:
    """Cut an ADTS file to its first `count` frames (the encoder flushes a few more)."""
    frames = frames_of(path.read_bytes())
    if len(frames) < count:
        raise BadADTS(f"the encoder made {len(frames)} frames; {count} were needed")
    path.write_bytes(b"".join(frames[:count]))


def join(parts: list[Path], target: Path) -> Path:
    """One ADTS stream made of the parts in order: frames are independent, bytes concatenate."""
    with target.open("wb") as out:
        for part in parts:
            out.write(part.read_bytes())
    return target
