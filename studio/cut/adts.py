"""AAC in ADTS: a stream of self-delimiting frames, so pieces encoded apart join by concatenation.

The film's sound is a grid of 1024-sample frames from sample 0, after one priming frame that
the MP4 edit list skips; every piece keeps exactly the frames covering its stretch of the grid.
"""

from __future__ import annotations

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


def frame_sizes(data: bytes, known: np.ndarray | None = None) -> np.ndarray:
    """Each ADTS frame's length in `data` (header included); raise BadADTS on a broken stream.

    `known`: the lengths found when these bytes were last read. Every frame's sync word and
    length field are then checked against them at once, instead of walked frame by frame (a
    feature film's sound is 225,000 frames: the walk costs a second a night)."""
    if known is not None and _agrees(data, known):
        return known
    return np.fromiter((len(f) for f in frames_of(data)), dtype=np.int64)


def _agrees(data: bytes, sizes: np.ndarray) -> bool:
    if not len(sizes) or int(sizes.sum()) != len(data) or int(sizes.min()) < 7:
        return False
    b = np.frombuffer(data, np.uint8)
    at = np.cumsum(sizes) - sizes
    sync = (b[at] == 0xFF) & ((b[at + 1] & 0xF6) == 0xF0)
    length = ((b[at + 3].astype(np.int64) & 0x03) << 11) | (b[at + 4].astype(np.int64) << 3) \
        | (b[at + 5].astype(np.int64) >> 5)
    return bool(sync.all() and (length == sizes).all())


def payloads(data: bytes, sizes: np.ndarray) -> tuple[bytes, np.ndarray]:
    """The raw AAC frames end to end, their ADTS headers (7 bytes, 9 with a CRC) taken off,
    and each one's size: what an MP4 stores."""
    b = np.frombuffer(data, np.uint8)
    at = np.cumsum(sizes) - sizes
    head = np.where(b[at + 1] & 0x01, 7, 9)
    keep = np.ones(len(b), dtype=bool)
    columns = np.arange(9)
    keep[(at[:, None] + columns)[columns < head[:, None]]] = False
    return b[keep].tobytes(), sizes - head
