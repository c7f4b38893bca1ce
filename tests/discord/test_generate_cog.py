"""/generate, /jobs, /take upload end to end: real discord.py against the fake Discord."""

from __future__ import annotations

from storage import jobs, takes
from studio.generation.takes import takes_of
from studio.production import board
from tests.fakes.discord import Attachment
from tests.fakes.discord.fixtures import Stage
from tests.generation.helpers import job_in


async def test_generate_answers_with_the_job_and_the_worker_makes_the_take(stage: Stage) -> None:
    alice = stage.fake.as_user(stage.alice)
    await alice.slash("chapter claim", chapter=2)
    refused = await alice.slash("generate", kind="image", shot="3.1", prompt="x")
    assert refused.ephemeral and "owner" in refused.content
    reply = await alice.slash("generate", kind="image", shot="2.1", prompt="Gulls", seed=5)
    assert not reply.ephemeral and "image for shot 2.1 on animatic" in reply.content
    studio = stage.studio
    prod = await board.get(studio.db, stage.fake.guild_id)
    job = (await jobs.listed(studio.db.reader, prod.id))[0]
    done = await job_in(studio, job.id, "succeeded", "failed")
    assert done.state == "succeeded", done.error
    made = await takes.get(studio.db.reader, done.take_id)
    assert made is not None and made.seed == 5 and made.provider == "animatic"
    listed = await alice.slash("jobs list")
    assert listed.ephemeral and f"#{job.id}" in listed.content and "succeeded" in listed.content


async def test_take_upload_refuses_a_text_file_named_mp4(stage: Stage) -> None:
    alice = stage.fake.as_user(stage.alice)
    await alice.slash("chapter claim", chapter=2)
    reply = await alice.slash("take upload", shot="2.1",
                              file=Attachment("final cut.mp4", b"not a video at all\n" * 50))
    assert reply.ephemeral and "not video, image or audio" in reply.content
    prod = await board.get(stage.studio.db, stage.fake.guild_id)
    assert await takes_of(stage.studio, prod, "2.1") == []
    media = stage.studio.settings.media_path
    assert not media.exists() or not [p for p in media.rglob("*") if p.is_file()]
