"""Stand-in takes and stems made locally with ffmpeg's test sources and a Pillow caption.

Used by the demo until the animatic provider makes real storyboard takes, and by the cut's
tests and benchmark to make media of every shape (codecs, sizes, rates, with or without sound).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from studio import fonts
from studio.generation.captions import caption_overlay
from studio.media import ffmpeg_exe


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-v", "error", *args],
                   check=True, capture_output=True)


def caption_png(text: str, width: int, height: int, path: Path) -> Path:
    """A transparent overlay with `text` at the foot of the title-safe area, in any script."""
    caption_overlay(text, width, height).save(path)
    return path


def make_standin_take(
    path: Path, caption: str, *, seconds: float = 1.0, size: tuple[int, int] = (320, 180),
    fps: str = "24", codec: str = "libx264", audio: bool = False, pattern: str = "testsrc2",
) -> Path:
    """A captioned test-pattern video: the stand-in for a generated take."""
    w, h = size
    with tempfile.TemporaryDirectory() as tmp:
        overlay = caption_png(caption, w, h, Path(tmp) / "caption.png")
        args = ["-f", "lavfi", "-i", f"{pattern}=s={w}x{h}:r={fps}:d={seconds}",
                "-i", str(overlay)]
        if audio:
            args += ["-f", "lavfi", "-i", f"sine=frequency=330:duration={seconds}"]
        args += ["-filter_complex", "[0:v][1:v]overlay=0:0,format=yuv420p[v]", "-map", "[v]"]
        if audio:
            args += ["-map", "2:a", "-c:a", "aac" if path.suffix in (".mp4", ".mov") else
                     "libmp3lame" if path.suffix == ".avi" else "libopus"]
        if codec == "libx264":
            args += ["-preset", "ultrafast"]
        _ffmpeg(*args, "-c:v", codec, "-t", str(seconds), str(path))
    return path


def make_still(path: Path, caption: str, size: tuple[int, int] = (320, 180)) -> Path:
    image = Image.new("RGB", size, (40, 90, 140))
    fonts.draw_text(ImageDraw.Draw(image), (10, 10), caption, max(8, size[1] // 10),
                    (255, 255, 255))
    image.save(path)
    return path


def make_tone(path: Path, seconds: float, frequency: int = 220) -> Path:
    """A sine tone: a stand-in voice-over, effects or music stem."""
    _ffmpeg("-f", "lavfi", "-i", f"sine=frequency={frequency}:duration={seconds}",
            "-ac", "2", str(path))
    return path
