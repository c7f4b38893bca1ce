"""AAC in ADTS: a stream of self-delimiting frames, so pieces encoded apart join by concatenation.

The film's sound is a grid of 1024-sample frames from sample 0, after one priming frame that
the MP4 edit list skips; every piece keeps exactly the frames covering its stretch of the grid.
"""

from __future__ import annotations

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
