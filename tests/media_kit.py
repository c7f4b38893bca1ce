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
