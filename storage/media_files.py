"""Media files: one row per distinct file, keyed by sha256, with what probing found."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from storage.rows import Conn, fetch_in, fetch_one, now


@dataclass(frozen=True)
class MediaFile:
    sha256: str
    kind: str
    container: str
    size: int
    duration: float | None
    width: int | None
    height: int | None
    fps_num: int | None
    fps_den: int | None
    video_codec: str | None
    audio_codec: str | None
    has_audio: int
    original_name: str
    created_at: str = ""

    @property
    def fps(self) -> Fraction | None:
        return Fraction(self.fps_num, self.fps_den) if self.fps_num and self.fps_den else None


async def get(conn: Conn, sha256: str) -> MediaFile | None:
    return await fetch_one(conn, MediaFile, "SELECT * FROM media_file WHERE sha256 = ?", (sha256,))


async def many(conn: Conn, sha256s: list[str]) -> dict[str, MediaFile]:
    return {m.sha256: m for m in await fetch_in(
        conn, MediaFile, "SELECT * FROM media_file WHERE sha256 IN", sha256s)}


async def ensure(
    conn: Conn, sha256: str, *, kind: str, container: str, size: int, duration: float | None,
    width: int | None, height: int | None, fps: Fraction | None, video_codec: str | None,
    audio_codec: str | None, has_audio: bool, original_name: str,
) -> MediaFile:
    """Record a stored file once; the same bytes uploaded twice share one row."""
    await conn.execute(
        "INSERT INTO media_file (sha256, kind, container, size, duration, width, height,"
        " fps_num, fps_den, video_codec, audio_codec, has_audio, original_name, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
        (sha256, kind, container, size, duration, width, height,
         fps.numerator if fps else None, fps.denominator if fps else None,
         video_codec, audio_codec, int(has_audio), original_name[:255], now()),
    )
    found = await get(conn, sha256)
    assert found is not None
    return found
