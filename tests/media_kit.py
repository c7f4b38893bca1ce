"""Tiny real media files for tests, made with ffmpeg's test sources (seconds, low resolution)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from studio.media import ffmpeg_exe


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", *args], check=True)


def video(path: Path, *, seconds: float = 1.0, size: str = "320x180", rate: str = "24",
          audio: bool = True, codec: str = "libx264") -> Path:
    inputs = ["-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        inputs += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    codecs = ["-c:v", codec, "-pix_fmt", "yuv420p"] + (["-c:a", "aac", "-shortest"] if audio
                                                       else [])
    _ffmpeg(*inputs, *codecs, str(path))
    return path


def image(path: Path, *, size: str = "320x180") -> Path:
    _ffmpeg("-f", "lavfi", "-i", f"testsrc=size={size}", "-frames:v", "1", str(path))
    return path


def tone(path: Path, *, seconds: float = 1.0) -> Path:
    _ffmpeg("-f", "lavfi", "-i", f"sine=frequency=220:duration={seconds}", str(path))
    return path


def huge_png(path: Path, width: int, height: int) -> Path:
    """A grey PNG of any size in little memory and a few hundred KB: written row by row."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    squeeze = zlib.compressobj(1)
    row = b"\x00" + b"\x80" * width  # filter 0, then one grey byte a pixel
    body = b"".join(squeeze.compress(row) for _ in range(height)) + squeeze.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path
