"""A generated take posted in its chapter's thread, and its buttons, through the fake Discord."""

from __future__ import annotations

import pytest

from storage import jobs, media_files, takes
from storage.takes import Take
from studio.ops.settings import Settings
from studio.production import board, shots
from tests.fakes.discord import FakeDiscord, Reply, UserSession
from tests.fakes.discord.fixtures import Stage
from tests.generation.helpers import until


@pytest.fixture
def discord_settings(settings: Settings, discord_fake: FakeDiscord) -> Settings:
    return settings.model_copy(update={"discord_guild_id": discord_fake.guild_id,
                                       "animatic_width": 64})


async def posted(stage: Stage, code: str, revision: int, within: float = 15) -> Reply:
    """The take's post in the chapter's thread under the takes channel, once it is there."""
    head = f"🎬 **Shot {code} · take r{revision}**"
    found: list[dict] = []

    async def there() -> bool:
        threads = {int(t["id"]) for t in stage.fake.threads
                   if t.get("parent_id") == str(stage.takes.id)}
        found[:] = [m for m in stage.fake.messages.values()
                    if int(m["channel_id"]) in threads and m["content"].startswith(head)]
        return bool(found)

    await until(there, within)
    assert len(found) == 1, "one post per take"
    return stage.fake.reply_of(found[0])


async def gulls_posted(stage: Stage) -> tuple[UserSession, Reply]:
    """Alice claims chapter 2 and generates an image for shot 2.1: its post, once there."""
    alice = stage.fake.as_user(stage.alice)
    await alice.slash("chapter claim", chapter=2)
    await alice.slash("generate", kind="image", shot="2.1", prompt="Gulls", seed=5)
    return alice, await posted(stage, "2.1", 1)


async def shot_takes(stage: Stage, code: str = "2.1") -> list[Take]:
    prod = await board.get(stage.studio.db, stage.fake.guild_id)
    ref = await shots.shot(stage.studio.db, prod, code)
    return await takes.of_shot(stage.studio.db.reader, ref.shot.id)


async def test_the_take_is_posted_in_the_chapter_thread_with_file_provenance_and_buttons(
        stage: Stage) -> None:
    alice = stage.fake.as_user(stage.alice)
    await alice.slash("chapter claim", chapter=2)
    await alice.slash("generate", kind="image", shot="2.1", prompt="Gulls over the pier",
                      seed=5)
    post = await posted(stage, "2.1", 1)
    thread = stage.fake.channels[post.channel_id or 0]
    assert thread.parent_id == stage.takes.id and thread.name.startswith("Chapter 2")
    assert [a["filename"] for a in post.attachments] == ["2.1r1.png"]
    assert "Gulls over the pier" in (post.content or "")
    assert "`animatic` · model `animatic" in (post.content or "") and "seed 5" in post.content
    assert [b["label"] for b in post.buttons] == ["Re-roll", "Upscale", "Animate",
                                                   "Use as reference"]


async def test_reroll_after_a_restart_makes_a_second_take_with_another_seed(
        stage: Stage) -> None:
    alice, post = await gulls_posted(stage)
    await stage.slate.restart()
    card = await alice.click(post, "Re-roll")
    assert not card.ephemeral and "image for shot 2.1 on animatic" in (card.content or "")
    again = await posted(stage, "2.1", 2)
    first, second = await shot_takes(stage)
    assert second.seed != first.seed == 5
    assert second.prompt == first.prompt and second.provider == first.provider
    assert again.attachments and again.button("Re-roll")


async def test_someone_else_clicking_gets_the_reason_and_nothing_is_queued(
        stage: Stage) -> None:
    _, post = await gulls_posted(stage)
    bob = stage.fake.as_user(stage.bob)
    for label in ("Re-roll", "Upscale", "Animate", "Use as reference"):
        refused = await bob.click(post, label)
        assert refused.ephemeral, label
        assert "chapter 2's owner or a Producer" in (refused.content or ""), refused.content
    prod = await board.get(stage.studio.db, stage.fake.guild_id)
    assert len(await jobs.listed(stage.studio.db.reader, prod.id)) == 1


async def test_animate_and_use_as_reference_start_from_the_posted_image(stage: Stage) -> None:
    alice, post = await gulls_posted(stage)
    (still,) = await shot_takes(stage)
    chosen = await alice.click(post, "Use as reference")
    assert chosen.ephemeral and "r1 will guide the next image" in (chosen.content or "")
    asked = await alice.click(post, "Animate")
    assert asked.modal is not None, "Animate asks for the motion first"
    card = await alice.submit(asked.modal, motion="8")
    assert "video for shot 2.1" in (card.content or "")
    moving = await posted(stage, "2.1", 2)
    assert [b["label"] for b in moving.buttons] == ["Re-roll"]
    assert moving.attachments[0]["filename"] == "2.1r2.mp4"
    card = await alice.click(post, "Upscale")
    assert "upscale for shot 2.1" in (card.content or "")
    await posted(stage, "2.1", 3)
    await alice.slash("generate", kind="image", shot="2.1", prompt="Gulls, closer")
    await posted(stage, "2.1", 4)
    await alice.slash("generate", kind="image", shot="2.1", prompt="Gulls, closer still")
    await posted(stage, "2.1", 5)
    made = await shot_takes(stage)
    assert [t.kind for t in made] == ["image", "video", "image", "image", "image"]
    params = [(await jobs.get(stage.studio.db.reader, t.job_id or 0)).parameters for t in made]
    assert params[1]["image_take"] == still.id, "the video starts from r1"
    assert params[1]["motion"] == 8 and made[1].based_on == still.id
    assert params[2]["image_take"] == still.id and made[2].provider == "animatic"
    small, large = [await media_files.get(stage.studio.db.reader, t.media_sha256)
                    for t in (made[0], made[2])]
    assert small and large and (large.width or 0) > (small.width or 0), "upscaled"
    assert params[3]["reference_take"] == still.id, "r1 guides the next image"
    assert "reference_take" not in params[4], "and only the next one"


async def test_a_take_too_big_to_upload_is_posted_with_a_link(
        discord_fake: FakeDiscord, settings: Settings) -> None:
    from tests.fakes.discord.fixtures import SlateRunner, import_example

    tight = settings.model_copy(update={
        "discord_guild_id": discord_fake.guild_id, "animatic_width": 320,
        "preview_max_bytes": 1024, "notion_media_url": "https://media.example.org/slate"})
    runner = SlateRunner(discord_fake, tight)
    await runner.start()
    try:
        role = discord_fake.add_role("Producer")
        takes_channel = discord_fake.add_channel("takes")
        alice = discord_fake.add_user("Alice")
        owner = discord_fake.as_user(discord_fake.owner)
        await owner.slash("production setup", title="Low Tide", producer_role=role,
                          takes_channel=takes_channel)
        await import_example(runner)
        me = discord_fake.as_user(alice)
        await me.slash("chapter claim", chapter=2)
        await me.slash("generate", kind="image", shot="2.1", prompt="Gulls", seed=5)
        found: list[dict] = []

        async def there() -> bool:
            found[:] = [m for m in discord_fake.messages.values()
                        if m["content"].startswith("🎬 **Shot 2.1 · take r1**")]
            return bool(found)

        await until(there)
        assert runner.studio is not None
        prod = await board.get(runner.studio.db, discord_fake.guild_id)
        ref = await shots.shot(runner.studio.db, prod, "2.1")
        (take,) = await takes.of_shot(runner.studio.db.reader, ref.shot.id)
        assert found[0]["attachments"] == []
        assert "over Discord's 1.0 KB upload limit" in found[0]["content"]
        link = f"https://media.example.org/slate/{take.media_sha256[:2]}/{take.media_sha256}"
        assert f"[open it]({link})" in found[0]["content"]
    finally:
        await runner.stop()


async def test_a_crash_after_posting_before_recording_does_not_post_the_take_twice(
        stage: Stage) -> None:
    _, first = await gulls_posted(stage)
    # The crash's window: Discord has the post, the database does not know it yet.
    async with stage.studio.db.transaction() as tx:
        await tx.execute("UPDATE job_card SET take_message_id = NULL, settled = 0")
    await stage.slate.restart()

    async def recorded() -> bool:
        row = await stage.studio.db.reader.execute_fetchall(
            "SELECT take_message_id FROM job_card")
        return all(r[0] is not None for r in row)

    await until(recorded, 15)
    again = await posted(stage, "2.1", 1)  # still one post of the take
    assert again.message_id == first.message_id
