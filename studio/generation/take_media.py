"""What Discord shows of a take: a file under the upload limit named by its real format, or a link.

A take's preview, else its thumbnail, else its media, whichever first fits the limit. The file
name's extension follows the stored file's container and codecs, not the take's kind: a JPEG
thumbnail of a video is `.jpg`, an MP3 voice take `.mp3`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from storage import media_files
from storage.media_files import MediaFile
from storage.takes import Take
from studio import mediastore
from studio.app import Studio
from studio.media import suffix_for


def suffix_of(media: MediaFile) -> str:
    """The extension a player expects for this file's real format."""
    return suffix_for(media.container, media.kind, media.video_codec, media.audio_codec)


@dataclass(frozen=True)
class Shown:
    """The file to attach (None when none fits), the name to give it, and the full take's size."""

    path: Path | None
    filename: str
    size: int
    link: str | None


async def shown_file(studio: Studio, take: Take, code: str, limit: int) -> Shown:
    """The take's preview, thumbnail or media, the first that fits `limit`, named `2.1r3.mp4`."""
    media_dir = studio.settings.media_path
    full = await media_files.get(studio.db.reader, take.media_sha256)
    size = full.size if full else 0
    link = _link(studio, take.media_sha256)
    for sha in (take.preview_sha256, take.thumbnail_sha256, take.media_sha256):
        if not sha:
            continue
        path = mediastore.path_for(media_dir, sha)
        if not path.is_file() or path.stat().st_size > limit:
            continue
        found = await media_files.get(studio.db.reader, sha)
        suffix = suffix_of(found) if found else ""
        return Shown(path, f"{code}r{take.revision}{suffix}", size, link)
    return Shown(None, "", size, link)


def _link(studio: Studio, sha: str) -> str | None:
    """A public URL of the stored file, when the media folder is published."""
    base = studio.settings.notion_media_url
    return f"{base.rstrip('/')}/{sha[:2]}/{sha}" if base else None
