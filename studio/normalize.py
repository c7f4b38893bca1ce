"""Normalize one segment of the cut to the production's profile, once, cached on disk.

Every segment comes out identical in form (H.264 yuv420p, square pixels, the profile's size
and rational frame rate, PCM stereo 48 kHz, exact frame and sample counts), so the concat
demuxer can join them with stream copy. The cache key is (source hash, profile, length,
ffmpeg version): only a changed shot is re-encoded the next night.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from studio.media import ffmpeg_version, run_ffmpeg
from studio.timeline import SAMPLE_RATE, Profile

# Bump when the command below changes: old cache entries then stop matching.
RECIPE = "3"


@dataclass(frozen=True)
class Segment:
    path: Path
    cached: bool


def cache_key(source_sha256: str, kind: str, frames: int, profile: Profile) -> str:
    text = "|".join([RECIPE, source_sha256, kind, str(frames), profile.key, ffmpeg_version()])
    return hashlib.sha256(text.encode()).hexdigest()


def _video_chain(profile: Profile, frames: int) -> str:
    w, h, fps = profile.width, profile.height, profile.fps
    hold = profile.seconds(frames) + 1
    return (f"fps={fps},scale={w}:{h}:force_original_aspect_ratio=decrease:"
            f"force_divisible_by=2:out_range=tv:out_color_matrix=bt709,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,"
            f"format=yuv420p,tpad=stop_mode=clone:stop_duration={hold:.3f},"
            f"trim=end_frame={frames},setpts=N/FRAME_RATE/TB")


def _audio_chain(profile: Profile, frames: int) -> str:
    return (f"aresample={SAMPLE_RATE},aformat=sample_fmts=s16:channel_layouts=stereo,apad,"
            f"atrim=end_sample={profile.samples(frames)},asetpts=N/SR/TB")


def encode_args(profile: Profile) -> list[str]:
    """The fixed encoder settings every segment shares (identical streams for stream copy)."""
    gop = max(1, round(profile.fps * 2))
    return ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-profile:v", "high",
            "-level:v", "4.1", "-pix_fmt", "yuv420p", "-g", str(gop), "-bf", "2",
            "-x264-params", "scenecut=0:open-gop=0",
            # One colour description for every segment: the film has one SPS for them all.
            "-color_range", "tv", "-colorspace", "bt709", "-color_primaries", "bt709",
            "-color_trc", "bt709", "-c:a", "pcm_s16le",
            "-ar", str(SAMPLE_RATE), "-ac", "2",
            "-video_track_timescale", str(profile.timescale), "-f", "mov"]


def command(source: Path, kind: str, has_audio: bool, frames: int, profile: Profile,
            out: Path) -> list[str]:
    """ffmpeg arguments turning one take, still or card into one normalized segment."""
    seconds = profile.seconds(frames) + 1
    fps = str(profile.fps)
    if kind == "image":
        inputs = ["-loop", "1", "-framerate", fps, "-t", f"{seconds:.3f}", "-i", str(source)]
    elif kind == "audio":
        inputs = ["-f", "lavfi", "-i",
                  f"color=c=black:s={profile.width}x{profile.height}:r={fps}:d={seconds:.3f}",
                  "-i", str(source)]
    else:
        inputs = ["-i", str(source)]
    audio_index = 1 if kind == "audio" else 0
    if not has_audio:
        # A take with no sound gets silence for its length, so every segment has audio.
        inputs += ["-f", "lavfi", "-t", f"{seconds:.3f}", "-i",
                   f"anullsrc=channel_layout=stereo:sample_rate={SAMPLE_RATE}"]
        audio_index = len([a for a in inputs if a == "-i"]) - 1
    graph = (f"[0:v:0]{_video_chain(profile, frames)}[v];"
             f"[{audio_index}:a:0]{_audio_chain(profile, frames)}[a]")
    return ["-v", "error", *inputs, "-filter_complex", graph, "-map", "[v]", "-map", "[a]",
            "-map_metadata", "-1", *encode_args(profile), str(out)]


async def normalize(
    cache_dir: Path, key: str, source: Path, kind: str, has_audio: bool, frames: int,
    profile: Profile, on_progress: Callable[[float], None] | None = None,
) -> Segment:
    """The cached segment for `key`, made from `source` when absent (written beside, renamed)."""
    target = cache_dir / key[:2] / f"{key}.mov"
    if target.exists():
        return Segment(target, cached=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Unique per call: two shots using the same take may be normalized at the same moment.
    partial = target.with_name(f".partial-{os.getpid()}-{secrets.token_hex(4)}-{key}.mov")
    try:
        await run_ffmpeg(command(source, kind, has_audio, frames, profile, partial),
                         total_seconds=profile.seconds(frames), on_progress=on_progress)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return Segment(target, cached=False)
