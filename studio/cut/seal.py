"""Cache entries sealed when they are made, checked whenever they are read back.

Every cache entry (a normalized segment, a reel's samples and tables, a sound piece, a
loudness record) was checked when it was made: decoded, measured. The filesystem keeps no
checksum of file data, so a bit the disk flips since would reach the film unseen. Each entry
therefore carries the CRC-32 of the bytes that were checked, and its reader compares them.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

MAGIC = b"SLT1"
TRAILER = struct.Struct(">4sI")  # after a plain entry's bytes: magic, CRC-32 of what precedes
# After a segment's last box: a 'free' box, which every MP4 and MOV reader skips by type.
BOX = struct.Struct(">I4s4sII")  # size, b"free", magic, the picture's and the sound's CRC-32


class Broken(ValueError):
    """An entry whose bytes are not the ones sealed (or that carries no seal)."""


def crc(data: bytes | memoryview, running: int = 0) -> int:
    return zlib.crc32(data, running)


def seal(data: bytes) -> bytes:
    """`data` with its seal after it."""
    return data + TRAILER.pack(MAGIC, crc(data))


def unseal(blob: bytes) -> bytes:
    """The sealed bytes of `blob`, or Broken."""
    return bytes(unsealed(blob))


def unsealed(blob: bytes) -> memoryview:
    """unseal's bytes without a copy of them (a night reads a feature film's sound, 60 MB,
    from its cached pieces)."""
    if len(blob) < TRAILER.size:
        raise Broken("it is shorter than its seal")
    magic, sealed = TRAILER.unpack_from(blob, len(blob) - TRAILER.size)
    data = memoryview(blob)[:-TRAILER.size]
    if magic != MAGIC:
        raise Broken("it carries no seal")
    if crc(data) != sealed:
        raise Broken("its bytes changed since they were checked")
    return data


def segment_box(picture: int, sound: int) -> bytes:
    """The box that seals a segment: the CRC-32 of its picture packets and of its PCM."""
    return BOX.pack(BOX.size, b"free", MAGIC, picture, sound)


def segment_seals(path: Path) -> tuple[int, int]:
    """The picture's and the sound's CRC-32 a segment was sealed with, or Broken."""
    try:
        with path.open("rb") as f:
            f.seek(-BOX.size, os.SEEK_END)
            return box_seals(f.read(BOX.size))
    except OSError:
        raise Broken("it is shorter than its seal") from None


def box_seals(tail: bytes) -> tuple[int, int]:
    """The two CRC-32 of a segment's seal box (its file's last BOX.size bytes), or Broken."""
    try:
        size, kind, magic, picture, sound = BOX.unpack(tail)
    except struct.error:
        raise Broken("it is shorter than its seal") from None
    if (size, kind, magic) != (BOX.size, b"free", MAGIC):
        raise Broken("it carries no seal")
    return picture, sound
