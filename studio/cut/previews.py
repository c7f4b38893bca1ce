"""Previews and thumbnails: what Discord shows of a take without the full file.

A preview fits Discord's upload cap (8 MiB by default): the take itself when small enough,
else a smaller encode; when even that cannot fit, there is no preview and the card links the
file. A thumbnail is a JPEG still, 320 px wide, from an image or a video's first second.
"""

from __future__ import annotations

import io
import subprocess
import tempfile
from pathlib import Path

from PIL import Image

from studio.media import ffmpeg_exe

THUMB_WIDTH = 320
PREVIEW_WIDTH = 640


def _run(cmd: list[str]) -> bool:
    return subprocess.run(cmd, capture_output=True, check=False).returncode == 0


def thumbnail(path: Path, kind: str, duration: float | None = None) -> bytes | None:
    """A small JPEG still, or None for audio (a waveform says little at 320 px)."""
    if kind == "image":
        with Image.open(path) as image:
            still = image.convert("RGB")
    elif kind == "video":
        at = min(1.0, (duration or 0) / 2)
        done = subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-ss", f"{at:.3f}", "-i",
             str(path), "-frames:v", "1", "-f", "image2pipe", "-c:v", "png", "-"],
            capture_output=True, check=False)
        if done.returncode != 0 or not done.stdout:
            return None
        still = Image.open(io.BytesIO(done.stdout)).convert("RGB")
    else:
        return None
    still.thumbnail((THUMB_WIDTH, THUMB_WIDTH * 4))
    out = io.BytesIO()
    still.save(out, format="JPEG", quality=82)
    return out.getvalue()


def preview(path: Path, kind: str, duration: float | None, max_bytes: int,
            work: Path) -> Path | None:
    """A file under max_bytes for Discord: the take itself, a smaller encode, or None."""
    if path.stat().st_size <= max_bytes:
        return path
    work.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkstemp(dir=work, prefix="preview-")[1])
    if kind == "image":
        with Image.open(path) as image:
            small = image.convert("RGB")
        small.thumbnail((1920, 1920))
        small.save(out, format="JPEG", quality=85)
    elif kind == "video" and duration:
        # Aim at 90 % of the cap: the container and the bitrate's wobble take the rest.
        kbps = int(max_bytes * 8 * 0.9 / duration / 1000) - 96
        if kbps < 100:
            return None
        ok = _run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(path),
                   "-vf", f"scale='min({PREVIEW_WIDTH},iw)':-2", "-c:v", "libx264",
                   "-preset", "veryfast", "-b:v", f"{kbps}k", "-maxrate", f"{kbps}k",
                   "-bufsize", f"{kbps * 2}k", "-pix_fmt", "yuv420p", "-c:a", "aac",
                   "-b:a", "96k", "-movflags", "+faststart", "-f", "mp4", str(out)])
        if not ok:
            return None
    elif kind == "audio" and duration:
        ok = _run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(path),
                   "-vn", "-c:a", "aac", "-b:a", "96k", "-f", "mp4", str(out)])
        if not ok:
            return None
    else:
        return None
    if out.stat().st_size > max_bytes:
        out.unlink(missing_ok=True)
        return None
    return out
