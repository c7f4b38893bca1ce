"""File extensions follow the stored file's real container and codecs, not the take's kind."""

from __future__ import annotations

import pytest

from storage.media_files import MediaFile
from studio.generation.take_media import suffix_of


def media(kind: str, container: str, video: str | None = None,
          audio: str | None = None) -> MediaFile:
    return MediaFile("0" * 64, kind, container, 1, None, None, None, None, None, video, audio,
                     int(audio is not None), "x")


@pytest.mark.parametrize(("found", "suffix"), [
    (media("video", "mov", "h264", "aac"), ".mp4"),
    (media("audio", "mov", audio="aac"), ".m4a"),
    (media("video", "matroska", "vp9", "opus"), ".webm"),
    (media("video", "matroska", "h264", "aac"), ".mkv"),
    (media("image", "jpeg_pipe", "mjpeg"), ".jpg"),
    (media("image", "png_pipe", "png"), ".png"),
    (media("image", "image2", "png"), ".png"),
    (media("audio", "mp3", audio="mp3"), ".mp3"),
    (media("audio", "wav", audio="pcm_s16le"), ".wav"),
    (media("audio", "ogg", audio="opus"), ".opus"),
    (media("audio", "aac", audio="aac"), ".aac"),
])
def test_suffix_follows_the_format(found: MediaFile, suffix: str) -> None:
    assert suffix_of(found) == suffix
