"""The embedded provider: storyboard frames, camera moves, upscales and scratch voice, offline.

No network and no account: frames are drawn with Pillow (deterministic for a seed), videos are
a pan or zoom over a frame rendered by ffmpeg, voice comes from espeak-ng when installed, else a
placeholder tone as long as the text takes to read. Each task is a request file in the work
directory; its output sits beside it, so a restart finds finished work and redoes unfinished.
"""

from __future__ import annotations

import asyncio
import colorsys
import json
import math
import os
import random
import shutil
import struct
import subprocess
import uuid
import wave
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

from studio.generation.captions import caption_overlay
from studio.generation.providers.base import LocalWork, Poll, final
from studio.media import ffmpeg_exe

RATIOS = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1), "4:3": (4, 3), "3:4": (3, 4),
          "21:9": (21, 9), "2.39:1": (239, 100)}
FPS = 24
WORDS_PER_SECOND = 2.5  # a calm narration pace, about 150 words a minute


def parse_ratio(ratio: str) -> tuple[int, int]:
    """'16:9' or '1280:720' → (16, 9)-like pair; refuse anything else."""
    if ratio in RATIOS:
        return RATIOS[ratio]
    parts = ratio.split(":")
    if len(parts) == 2 and all(p.isdigit() and int(p) > 0 for p in parts):
        return int(parts[0]), int(parts[1])
    raise final(f"unknown ratio '{ratio}': use one of {', '.join(RATIOS)} or W:H")


def frame_size(width: int, ratio: str) -> tuple[int, int]:
    rw, rh = parse_ratio(ratio)
    height = max(2, round(width * rh / rw / 2) * 2)
    return width - width % 2, height


def draw_frame(prompt: str, seed: int, width: int, height: int, *,
               caption: bool = True) -> Image.Image:
    """A storyboard frame: seeded palette and composition, the shot's text as a caption (left
    out for a video's frame: the caption is laid over the moving picture, see render_video)."""
    rng = random.Random(seed)
    hue = rng.random()
    palette = [tuple(int(c * 255) for c in colorsys.hsv_to_rgb((hue + d) % 1, s, v))
               for d, s, v in ((0, 0.35, 0.85), (0.08, 0.55, 0.55), (0.5, 0.6, 0.35),
                               (0.55, 0.25, 0.95))]
    image = Image.new("RGB", (width, height), palette[0])
    draw = ImageDraw.Draw(image)
    # Sky-to-ground gradient above a horizon placed on a third, as storyboards do.
    horizon = int(height * rng.choice((1 / 3, 1 / 2, 2 / 3)))
    for y in range(height):
        t = y / max(1, height - 1)
        top, bottom = (palette[0], palette[3]) if y < horizon else (palette[1], palette[2])
        draw.line([(0, y), (width, y)],
                  fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    # Subjects: a few seeded blocks and discs, darker the closer they stand.
    for _ in range(rng.randint(2, 5)):
        w = int(width * rng.uniform(0.08, 0.3))
        h = int(height * rng.uniform(0.15, 0.5))
        x = int(rng.uniform(0, width - w))
        y = horizon - int(h * rng.uniform(0.3, 1.0))
        shade = tuple(int(c * rng.uniform(0.25, 0.7)) for c in palette[2])
        if rng.random() < 0.5:
            draw.rectangle([x, y, x + w, y + h], fill=shade)
        else:
            draw.ellipse([x, y, x + w, y + w], fill=shade)
    draw.rectangle([0, 0, width - 1, height - 1], outline=(20, 20, 20), width=max(1, width // 160))
    if caption:
        image = Image.alpha_composite(image.convert("RGBA"),
                                      caption_overlay(prompt or "(no prompt)", width, height))
    return image.convert("RGB")


def camera_filter(move: str, motion: int, width: int, height: int, frames: int) -> str:
    """A zoompan filter for a move whose speed follows motion (1 nearly still, 10 strongest)."""
    strength = 0.02 + 0.05 * (motion - 1)  # zoom gained over the shot: 2 % .. 47 %
    step = strength / max(1, frames - 1)
    if move == "zoom_in":
        z, x, y = f"1+{step:.6f}*on", "iw/2-(iw/zoom/2)", "ih/2-(ih/zoom/2)"
    elif move == "zoom_out":
        z, x, y = f"{1 + strength:.4f}-{step:.6f}*on", "iw/2-(iw/zoom/2)", "ih/2-(ih/zoom/2)"
    elif move == "pan_left":
        z, x, y = f"{1 + strength:.4f}", f"(iw-iw/zoom)*(1-on/{frames})", "ih/2-(ih/zoom/2)"
    else:
        z, x, y = f"{1 + strength:.4f}", f"(iw-iw/zoom)*on/{frames}", "ih/2-(ih/zoom/2)"
    return (f"zoompan=z='{z}':x='{x}':y='{y}':d={frames}:s={width}x{height}:fps={FPS},"
            "format=yuv420p")


def render_video(frame: Path, out: Path, *, seed: int, motion: int, duration: float,
                 width: int, height: int, caption: Path | None = None) -> None:
    """The camera's move over `frame`, then `caption` (an overlay of the picture's size) laid
    over the moved picture: it stays still and whole in the frame while the camera travels."""
    frames = max(1, round(duration * FPS))
    move = random.Random(seed).choice(("zoom_in", "zoom_out", "pan_left", "pan_right"))
    # Scale the still up first so the move has pixels to travel over.
    moved = f"scale={width * 2}:{height * 2}:flags=bicubic," + camera_filter(
        move, motion, width, height, frames)
    if caption is None:
        inputs, graph = ["-i", str(frame)], ["-vf", moved]
    else:
        inputs = ["-i", str(frame), "-i", str(caption)]
        graph = ["-filter_complex",
                 f"[0:v]{moved}[moved];[moved][1:v]overlay=0:0,format=yuv420p[v]", "-map", "[v]"]
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *inputs,
           *graph, "-frames:v", str(frames), "-r", str(FPS), "-c:v", "libx264",
           "-preset", "ultrafast", "-tune", "stillimage", "-pix_fmt", "yuv420p",
           "-movflags", "+faststart", "-f", "mp4", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {done.stderr.strip()[-300:]}")


def placeholder_tone(text: str, out: Path, rate: int = 22050) -> float:
    """A soft beep per word over the text's reading length: obviously scratch, correctly timed."""
    words = text.split() or ["…"]
    seconds = max(1.0, len(words) / WORDS_PER_SECOND)
    per_word = seconds / len(words)
    samples = bytearray()
    for i in range(int(seconds * rate)):
        t = i / rate
        in_word = (t % per_word) < per_word * 0.6
        value = 0.3 * math.sin(2 * math.pi * 440 * t) if in_word else 0.0
        samples += struct.pack("<h", int(value * 32767))
    with wave.open(str(out), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(bytes(samples))
    return seconds


def speak(text: str, voice: str, out: Path) -> None:
    espeak = shutil.which("espeak-ng") or shutil.which("espeak")
    if espeak:
        cmd = [espeak, "-w", str(out)] + (["-v", voice] if voice else []) + ["--", text]
        if subprocess.run(cmd, capture_output=True, check=False).returncode == 0:
            return
    placeholder_tone(text, out)


class Animatic(LocalWork):
    """Previz with no account: what the production uses before real takes exist."""

    name = "animatic"
    kinds = ("image", "video", "upscale", "voice")
    model = "animatic-1"

    def __init__(self, work_dir: Path, *, width: int = 320):
        self.work_dir = work_dir
        self.width = width
        self._tasks: dict[str, asyncio.Task] = {}
        self.submissions = 0

    def _request(self, task_id: str) -> Path:
        return self.work_dir / f"{task_id}.json"

    def _done(self, task_id: str) -> Path | None:
        found = [p for p in self.work_dir.glob(f"{task_id}.out.*") if not p.name.endswith(".part")]
        return found[0] if found else None

    async def submit(self, kind: str, params: dict) -> str:
        if not self.serves(kind):
            raise final(f"the animatic provider cannot make {kind}")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        task_id = "anim-" + uuid.uuid4().hex
        self.submissions += 1
        self._request(task_id).write_text(json.dumps({"kind": kind, "params": params}))
        self._start(task_id)
        return task_id

    def _start(self, task_id: str) -> None:
        request = json.loads(self._request(task_id).read_text())
        self._tasks[task_id] = asyncio.create_task(
            asyncio.to_thread(self.render, task_id, request["kind"], request["params"]))

    def motion_control(self, kind: str) -> str | None:
        return "the camera move's speed: zoom 2 % (1) to 47 % (10) over the shot" \
            if kind == "video" else None

    async def poll(self, external_id: str) -> Poll:
        done = self._done(external_id)
        if done is not None:
            self._tasks.pop(external_id, None)
            return Poll("succeeded", 1.0, [str(done)], cost=0.0)
        task = self._tasks.get(external_id)
        if task is None:
            if not self._request(external_id).exists():
                return Poll("failed", error="the animatic task is unknown (its files are gone)")
            self._start(external_id)  # a restart: the work is local and free, so redo it
            return Poll("running", 0.1)
        if task.done():
            self._tasks.pop(external_id, None)
            error = task.exception()
            if error is not None:
                return Poll("failed", error=f"animatic render failed: {error}")
            return await self.poll(external_id)
        return Poll("running", 0.5)

    async def cancel(self, external_id: str) -> None:
        self._stop(external_id)

    async def download(self, output: str, dest: Path) -> Path:
        source = Path(output)
        os.makedirs(dest, exist_ok=True)
        target = dest / ("output" + source.suffix)
        shutil.copyfile(source, target)
        return target

    # The work itself, in a thread: Pillow and ffmpeg block.
    def render(self, task_id: str, kind: str, params: dict) -> Path:
        seed = int(params.get("seed") or 0)
        prompt = str(params.get("prompt", ""))
        width = int(params.get("width") or self.width)
        ratio = str(params.get("ratio") or "16:9")
        part = self.work_dir / f"{task_id}.part"
        if kind == "image":
            w, h = frame_size(width, ratio)
            draw_frame(prompt, seed, w, h).save(part, format="PNG")
            suffix = ".png"
        elif kind == "video":
            w, h = frame_size(width, ratio)
            frame = self.work_dir / f"{task_id}.frame.png"
            caption = self.work_dir / f"{task_id}.caption.png"
            if params.get("image"):
                Image.open(params["image"]).convert("RGB").resize((w * 2, h * 2)).save(frame)
            else:
                draw_frame(prompt, seed, w * 2, h * 2, caption=False).save(frame)
                caption_overlay(prompt or "(no prompt)", w, h).save(caption)
            render_video(frame, part, seed=seed, motion=int(params.get("motion") or 5),
                         duration=float(params.get("duration") or 4), width=w, height=h,
                         caption=caption if caption.exists() else None)
            frame.unlink(missing_ok=True)
            caption.unlink(missing_ok=True)
            suffix = ".mp4"
        elif kind == "upscale":
            source = Image.open(params["image"]).convert("RGB")
            scale = float(params.get("scale") or 2)
            strength = float(params.get("strength", 0.5))
            bigger = source.resize((round(source.width * scale), round(source.height * scale)),
                                   Image.Resampling.LANCZOS)
            bigger = bigger.filter(ImageFilter.UnsharpMask(radius=2, percent=int(40 + 160 *
                                                                                   strength)))
            bigger.save(part, format="PNG")
            suffix = ".png"
        elif kind == "voice":
            wav = self.work_dir / f"{task_id}.wav"
            speak(prompt or str(params.get("text", "")), str(params.get("voice_id") or ""), wav)
            wav.replace(part)
            suffix = ".wav"
        else:
            raise ValueError(f"unknown kind {kind}")
        out = self.work_dir / f"{task_id}.out{suffix}"
        part.replace(out)
        return out
