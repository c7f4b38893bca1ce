"""/notion connect and /notion sync end to end: the real bot, the fake Discord, the fake Notion."""

from __future__ import annotations

import pytest

from storage import notion_rows
from studio.ops.settings import Settings
from studio.production import board
from tests.fakes.discord.fixtures import Stage
from tests.fakes.discord.server import FakeDiscord
from tests.fakes.notion.fixtures import with_notion
from tests.fakes.notion.server import FakeNotion


@pytest.fixture
def discord_settings(settings: Settings, discord_fake: FakeDiscord,
                     notion_fake: FakeNotion) -> Settings:
    return with_notion(settings, notion_fake, discord_guild_id=discord_fake.guild_id)


async def test_producers_connect_and_sync_others_cannot(stage: Stage,
                                                        notion_fake: FakeNotion) -> None:
    parent = notion_fake.add_parent_page()
    url = f"https://www.notion.so/Low-Tide-{parent.replace('-', '')}"
    refused = await stage.fake.as_user(stage.alice).slash("notion connect", parent=url)
    assert refused.ephemeral and refused.content == "connecting Notion needs the Producer role"
    assert notion_fake.databases == {}
    pat = stage.fake.as_user(stage.pat)
    reply = await pat.slash("notion connect", parent=url)
    assert reply.ephemeral and "created the Chapters and Shots databases" in reply.content
    reply = await pat.slash("notion sync")
    assert "48 created, 0 updated, 0 pulled, 0 failed" in reply.content
    assert notion_fake.token not in reply.content
    refused = await stage.fake.as_user(stage.bob).slash("notion sync")
    assert refused.content == "syncing Notion needs the Producer role"
    # A due date edited in Notion comes back with the next sync.
    prod = await board.get(stage.studio.db, stage.fake.guild_id)
    link = await notion_rows.link(stage.studio.db.reader, prod.id)
    assert link is not None
    (chapter,) = notion_fake.row_by_key(link.chapters_data_source_id, "chapter 3")
    notion_fake.edit(chapter["id"], {"Due": {"date": {"start": "2026-09-01"}}})
    reply = await pat.slash("notion sync")
    assert "pulled from Notion: chapter 3: Due" in reply.content
    assert (await board.chapter(stage.studio.db, prod, 3)).due_date == "2026-09-01"


async def test_automatic_sync_trouble_is_told_once_in_the_board_channel(
        stage: Stage, notion_fake: FakeNotion) -> None:
    import asyncio

    parent = notion_fake.add_parent_page()
    pat = stage.fake.as_user(stage.pat)
    await pat.slash("notion connect", parent=parent)
    cog = stage.slate.bot.get_cog("NotionCog")
    service = cog.service

    def board_posts() -> list[str]:
        # Notices, not the board itself (one pinned embed, kept there since issue 22).
        return [m.get("content") or "" for m in stage.fake.messages.values()
                if int(m["channel_id"]) == stage.board.id and m.get("content")]

    async def posts_become(count: int) -> list[str]:
        for _ in range(1000):
            if len(board_posts()) >= count:
                break
            await asyncio.sleep(0.02)
        return board_posts()

    prod = await board.get(stage.studio.db, stage.fake.guild_id)
    good = notion_fake.token
    notion_fake.token = "rotated-by-a-workspace-owner"  # Slate's token is now refused
    for _ in range(3):  # three automatic syncs fail the same way: one message
        await service._automatic(prod.id, pull=True)
    posts = await posts_become(1)
    assert len(posts) == 1 and "automatic Notion sync is in trouble" in posts[0]
    assert good not in posts[0]
    notion_fake.token = good
    await service._automatic(prod.id, pull=True)
    posts = await posts_become(2)
    assert posts[1] == "✅ The automatic Notion sync is working again."
    await service._automatic(prod.id, pull=True)
    assert len(board_posts()) == 2
