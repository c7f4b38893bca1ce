"""Tiny real media files for tests, made with ffmpeg's test sources (seconds, low resolution)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import AsyncIterator
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


def flash_and_beep(path: Path, *, sound_offset: float, at: float = 1.0,
                   seconds: float = 2.0) -> Path:
    """A take whose picture flashes white and whose sound beeps at the same instant, `at`
    seconds after its first picture, with the sound stream starting `sound_offset` seconds after
    the picture stream (before it when negative), as phones and cameras write them. A .mov gets
    PCM sound, an .mp4 AAC (with its encoder delay)."""
    work = path.with_suffix(".parts")
    work.mkdir(exist_ok=True)
    picture, sound = work / "picture.mov", work / "sound.wav"
    frame = round(at * 24)
    _ffmpeg("-f", "lavfi", "-i", f"color=c=gray:s=64x36:r=24:d={seconds},"
            f"drawbox=c=white:t=fill:enable='eq(n,{frame})'",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(picture))
    beep_ms = round((at - sound_offset) * 1000)  # on the sound's own clock
    _ffmpeg("-f", "lavfi", "-i", f"sine=f=1000:r=48000:d=0.1,adelay={beep_ms}|{beep_ms},"
            f"apad=whole_dur={seconds + abs(sound_offset)}", "-c:a", "pcm_s16le", str(sound))
    # -itsoffset delays the input it precedes: the later-starting stream's.
    late, early = (sound, picture) if sound_offset >= 0 else (picture, sound)
    _ffmpeg("-i", str(early), "-itsoffset", str(abs(sound_offset)), "-i", str(late),
            "-map", "0", "-map", "1", "-c:v", "copy",
            "-c:a", "pcm_s16le" if path.suffix == ".mov" else "aac", str(path))
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


@contextlib.asynccontextmanager
async def killing_whoever_writes(segment: Path) -> AsyncIterator[list[int]]:
    """Every worker that starts writing `segment` is SIGKILLed, as a libav crash on a hostile
    file would end it (the pool's worker, then the one that retries it alone); yields the
    pids killed so far."""
    killed: list[int] = []

    async def kill() -> None:
        while True:
            for partial in segment.parent.glob(f".partial-*-{segment.name}"):
                pid = int(partial.name.split("-")[1])
                if pid not in killed:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            await asyncio.sleep(0.001)

    killer = asyncio.ensure_future(kill())
    try:
        yield killed
    finally:
        killer.cancel()
