"""Candidate posts carry files named by their real format; the review queue links revisions."""

from __future__ import annotations

from pathlib import Path

from studio import mediastore
from studio.generation import requests
from studio.generation.take_media import shown_file
from studio.production import board, claims
from studio.production.people import actor
from studio.review import approvals
from tests import media_kit
from tests.discord.test_review import candidate_messages
from tests.fakes.discord.fixtures import Stage


async def test_vote_posts_name_files_by_their_format_not_their_kind(
        stage: Stage, tmp_path: Path) -> None:
    prod = await board.get(stage.studio.db, stage.fake.guild_id)
    alice = await actor(stage.studio.db, prod, "Alice", discord_id=stage.alice.id)
    await claims.claim(stage.studio.db, prod, alice, 1)
    for made in (media_kit.tone(tmp_path / "line.mp3"), media_kit.image(tmp_path / "still.jpg"),
                 media_kit.tone(tmp_path / "line.m4a")):
        await requests.upload_take(stage.studio, prod, alice, "1.1", made)
    await stage.fake.as_user(stage.pat).slash("vote open", shot="1.1", hours=1.0)
    posted = candidate_messages(stage.fake, stage.takes.id, "1.1")
    names = {r: [a["filename"] for a in stage.fake.messages[m]["attachments"]]
             for r, m in posted.items()}
    assert names == {1: ["1.1r1.mp3"], 2: ["1.1r2.jpg"], 3: ["1.1r3.m4a"]}


async def test_a_video_too_big_to_post_shows_its_jpeg_thumbnail_as_jpg(
        stage: Stage, tmp_path: Path) -> None:
    prod = await board.get(stage.studio.db, stage.fake.guild_id)
    alice = await actor(stage.studio.db, prod, "Alice", discord_id=stage.alice.id)
    await claims.claim(stage.studio.db, prod, alice, 1)
    take = await requests.upload_take(stage.studio, prod, alice, "1.1",
                                      media_kit.video(tmp_path / "clip.mp4", size="160x90"))
    assert take.thumbnail_sha256
    full = await shown_file(stage.studio, take, "1.1", 10 * 1024 * 1024)
    still = mediastore.path_for(stage.studio.settings.media_path, take.thumbnail_sha256)
    assert full.size > still.stat().st_size
    small = await shown_file(stage.studio, take, "1.1", still.stat().st_size)  # only the still fits
    assert full.filename == "1.1r1.mp4" and small.filename == "1.1r1.jpg"
    assert small.path is not None and small.path.read_bytes()[:2] == b"\xff\xd8"


async def test_the_review_queue_labels_links_by_revision(stage: Stage, tmp_path: Path) -> None:
    prod = await board.get(stage.studio.db, stage.fake.guild_id)
    alice = await actor(stage.studio.db, prod, "Alice", discord_id=stage.alice.id)
    pat = await actor(stage.studio.db, prod, "Pat", discord_id=stage.pat.id, is_producer=True)
    await claims.claim(stage.studio.db, prod, alice, 1)
    for n in range(2):
        await requests.upload_take(stage.studio, prod, alice, "1.1",
                                   media_kit.image(tmp_path / f"old{n}.png", size="32x18"))
    await approvals.retake(stage.studio.db, prod, pat, "1.1", "darker, please")  # r1, r2 rejected
    for n in range(2):
        await requests.upload_take(stage.studio, prod, alice, "1.1",
                                   media_kit.image(tmp_path / f"new{n}.png", size=f"3{n}x18"))
    pat_user = stage.fake.as_user(stage.pat)
    await pat_user.slash("vote open", shot="1.1", hours=1.0)
    posted = candidate_messages(stage.fake, stage.takes.id, "1.1")
    assert sorted(posted) == [3, 4]
    shown = await pat_user.slash("review queue")
    thread = stage.fake.messages[posted[3]]["channel_id"]  # the chapter's, under takes
    assert f"[r3](https://discord.com/channels/{stage.fake.guild_id}/{thread}/" \
           f"{posted[3]})" in shown.text
    assert f"/{posted[4]})" in shown.text and "[r4]" in shown.text and "[r1]" not in shown.text
