"""Issue 22 item 11 in Discord: a Notion that echoes the token is answered with `Bearer ***`."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from studio.ops.settings import Settings
from tests.fakes.discord.fixtures import Stage
from tests.fakes.discord.server import FakeDiscord
from tests.shell22.test_secrets import NOTION, echo, echoing_server  # noqa: F401


@pytest.fixture
def discord_settings(settings: Settings, discord_fake: FakeDiscord, echo: str) -> Settings:  # noqa: F811
    return settings.model_copy(update={"discord_guild_id": discord_fake.guild_id,
                                       "notion_token": SecretStr(NOTION),
                                       "notion_base_url": echo})


async def test_a_discord_answer_never_quotes_the_echoed_token(stage: Stage) -> None:
    pat = stage.fake.as_user(stage.pat)
    reply = await pat.slash("notion connect",
                            parent="https://www.notion.so/片场-0123456789abcdef0123456789abcdef")
    assert reply.ephemeral and "bad request (you sent" in reply.content, reply.content
    assert NOTION not in reply.content and "Bearer ***" in reply.content
    shown = [m["content"] for m in stage.fake.messages.values()]
    assert not [text for text in shown if NOTION in text]
