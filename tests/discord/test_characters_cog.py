"""/character add | list | show through the fake Discord, and @Name in a /generate prompt."""

from __future__ import annotations

import pytest

from storage import jobs, takes
from studio.ops.settings import Settings
from studio.production import board
from tests.fakes.discord import Attachment, FakeDiscord
from tests.fakes.discord.fixtures import Stage
from tests.fakes.providers.common import sample_png
from tests.generation.helpers import job_in


@pytest.fixture
def discord_settings(settings: Settings, discord_fake: FakeDiscord) -> Settings:
    return settings.model_copy(update={"discord_guild_id": discord_fake.guild_id,
                                       "animatic_width": 64})


async def test_a_character_added_in_discord_expands_in_a_prompt(stage: Stage) -> None:
    pat, alice = stage.fake.as_user(stage.pat), stage.fake.as_user(stage.alice)
    added = await pat.slash("character add", name="Mara", trigger_words="red coat, silver hair",
                            voice_id="narrator01",
                            reference=Attachment("mara.png", sample_png(), "image/png"))
    assert not added.ephemeral and "@Mara joins the cast" in (added.content or "")
    listed = await alice.slash("character list")
    assert listed.ephemeral and "@Mara" in listed.text and "1 image(s)" in listed.text
    shown = await alice.slash("character show", name="mara")
    assert "red coat, silver hair" in shown.text and "narrator01" in shown.text
    await alice.slash("chapter claim", chapter=2)
    await alice.slash("generate", kind="image", shot="2.1", prompt="@Mara on the pier")
    prod = await board.get(stage.studio.db, stage.fake.guild_id)
    job = (await jobs.listed(stage.studio.db.reader, prod.id))[0]
    done = await job_in(stage.studio, job.id, "succeeded", "failed")
    assert done.state == "succeeded", done.error
    made = await takes.get(stage.studio.db.reader, done.take_id or 0)
    assert made is not None and made.prompt == "Mara (red coat, silver hair) on the pier"
    assert len(done.parameters["reference_images"]) == 1, "her reference image goes along"


async def test_character_refusals_name_the_reason_and_add_nothing(stage: Stage) -> None:
    bob, pat = stage.fake.as_user(stage.bob), stage.fake.as_user(stage.pat)
    refused = await bob.slash("character add", name="Kit")
    assert refused.ephemeral and "Producer role or a chapter of your own" in refused.content
    bad = await pat.slash("character add", name="Kit",
                          reference=Attachment("kit.png", b"not an image at all" * 20))
    assert bad.ephemeral and "not video, image or audio" in (bad.content or "")
    await pat.slash("character add", name="Kit")
    twice = await pat.slash("character add", name="kit")
    assert twice.ephemeral and "already a character named kit" in (twice.content or "")
    missing = await bob.slash("character show", name="Nobody")
    assert missing.ephemeral and "no character named Nobody" in (missing.content or "")
    await stage.fake.as_user(stage.alice).slash("chapter claim", chapter=2)
    unknown = await stage.fake.as_user(stage.alice).slash(
        "generate", kind="image", shot="2.1", prompt="@Nobody waves")
    assert unknown.ephemeral and "no such character" in (unknown.content or "")
    listed = await bob.slash("character list")
    assert "@Kit" in listed.text and listed.text.count("@") == 1
