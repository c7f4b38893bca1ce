"""/take upload with its provenance, by file and by link, through the fake Discord: shown on
the answer and the take's post, counted in /budget, the chain in /shot info."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from studio.ops.settings import Settings
from tests.discord.test_take_posts import posted, shot_takes
from tests.fakes.discord import Attachment, FakeDiscord
from tests.fakes.discord.fixtures import Stage
from tests.fakes.file_host import FakeFileHost
from tests.fakes.providers.common import sample_png
from tests.generation.test_uploads import clip

PROMPT = "暴风雨前的灯塔，镜头缓慢推进"


@pytest.fixture
def discord_settings(settings: Settings, discord_fake: FakeDiscord) -> Settings:
    # Test-only: the file host below listens on 127.0.0.1.
    return settings.model_copy(update={"discord_guild_id": discord_fake.guild_id,
                                       "animatic_width": 64, "test_allow_loopback_urls": True})


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[FakeFileHost]:
    server = FakeFileHost(clip(tmp_path / "take.mp4", seconds=1.0).read_bytes())
    await server.start()
    yield server
    server.release.set()
    await server.stop()


async def test_uploads_show_their_provenance_and_count_in_the_budget(
        stage: Stage, host: FakeFileHost) -> None:
    alice = stage.fake.as_user(stage.alice)
    await alice.slash("chapter claim", chapter=2)
    tools = await alice.autocomplete("take upload", "tool", "mid", shot="2.1")
    assert [c["value"] for c in tools] == ["Midjourney"]
    reply = await alice.slash("take upload", shot="2.1",
                              file=Attachment("still.png", sample_png()), tool="Midjourney",
                              model="v7", prompt=PROMPT, seed=123456, cost=0.3,
                              source_url="https://www.midjourney.com/jobs/abc")
    assert not reply.ephemeral, reply.content
    for shown in ("take r1 of shot 2.1", "`Midjourney` · model `v7` · seed 123456 · $0.30",
                  "uploaded", "<https://www.midjourney.com/jobs/abc>"):
        assert shown in (reply.content or ""), reply.content
    post = await posted(stage, "2.1", 1)
    assert PROMPT in (post.content or "") and "`Midjourney` · model `v7`" in post.content
    card = await alice.slash("take upload", shot="2.1", url=f"{host.url}/take.mp4",
                             tool="kling", motion=6, cost=0.5, based_on=1)
    assert "fetched from 127.0.0.1" in (card.content or ""), card.content
    moving = await posted(stage, "2.1", 2)
    assert "`Kling`" in (moving.content or "") and "motion 6" in moving.content
    assert "made from r1" in moving.content and moving.attachments
    first, second = await shot_takes(stage)
    assert (second.provider, second.cost, second.based_on) == ("Kling", 0.5, first.id)
    budget = await alice.slash("budget")
    assert "$0.80 declared on uploaded takes" in (budget.content or ""), budget.content
    assert "Kling: 1 uploaded takes, $0.50" in budget.content
    info = await alice.slash("shot info", shot="2.1")
    takes_field = next(f for f in info.embeds[0]["fields"] if f["name"] == "Takes")
    assert "r2 video · Kling ← r1 image · Midjourney" in takes_field["value"]


async def test_a_link_to_a_private_address_is_refused_at_once(stage: Stage) -> None:
    alice = stage.fake.as_user(stage.alice)
    await alice.slash("chapter claim", chapter=2)
    reply = await alice.slash("take upload", shot="2.1", url="https://192.168.0.10/take.mp4")
    assert reply.ephemeral and "192.168.0.10, a private address" in (reply.content or "")
    both = await alice.slash("take upload", shot="2.1")
    assert both.ephemeral and "as a file or as a url" in (both.content or "")
