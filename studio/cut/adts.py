"""AAC in ADTS: a stream of self-delimiting frames, so pieces encoded apart join by concatenation.

The film's sound is a grid of 1024-sample frames from sample 0, after one priming frame that
the MP4 edit list skips; every piece keeps exactly the frames covering its stretch of the grid.
"""

from __future__ import annotations

import struct

import numpy as np

SAMPLES_PER_FRAME = 1024
PRIMING = 1024  # the film's first frame, before sample 0, in samples
_RATE_INDEX = 3  # 48000 Hz in the ADTS sampling-frequency table
_CHANNELS = 2


class BadADTS(Exception):
    """The bytes are not a whole number of ADTS frames."""


def header(payload: int) -> bytes:
    """The 7-byte ADTS header of one AAC-LC stereo 48 kHz frame with `payload` bytes."""
    length = payload + 7
    return bytes([0xFF, 0xF1, (1 << 6) | (_RATE_INDEX << 2) | (_CHANNELS >> 2),
                  ((_CHANNELS & 3) << 6) | (length >> 11), (length >> 3) & 0xFF,
                  ((length & 7) << 5) | 0x1F, 0xFC])


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


def pack(frames: list[bytes]) -> bytes:
    """ADTS frames as a sound piece's cache entry keeps them, in the MP4's own form: their
    count, each raw frame's size (2 bytes), then the raw frames end to end, headers off (7
    bytes, 9 with a CRC). A night then joins a feature film's 225,000 frames by reading sizes
    and copying bytes, never walking a frame."""
    raw = [f[7 if f[1] & 0x01 else 9:] for f in frames]
    sizes = np.fromiter((len(r) for r in raw), dtype=">u2", count=len(raw))
    return _COUNT.pack(len(raw)) + sizes.tobytes() + b"".join(raw)


def unpack(entry: bytes | memoryview) -> tuple[memoryview, np.ndarray]:
    """A packed piece's raw frames and their sizes; BadADTS when they do not add up."""
    view = memoryview(entry)
    if len(view) < _COUNT.size:
        raise BadADTS("a piece shorter than its frame count")
    (count,) = _COUNT.unpack_from(view)
    data = _COUNT.size + 2 * count
    if len(view) < data:
        raise BadADTS("a piece shorter than its frame sizes")
    sizes = np.frombuffer(view[_COUNT.size:data], dtype=">u2").astype(np.int64)
    if int(sizes.sum()) != len(view) - data:
        raise BadADTS(f"a piece's frames add up to {int(sizes.sum())} bytes; it holds "
                      f"{len(view) - data}")
    return view[data:], sizes


_COUNT = struct.Struct(">I")
