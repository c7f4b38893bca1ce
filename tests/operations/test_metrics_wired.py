"""Metrics move where things happen: the real bot against the fake Discord and the fake Notion,
then /metrics scraped from the health server, each counter moved by exactly what was done."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from studio.app import Studio
from studio.cut import build
from studio.ops import health
from studio.ops.health import Checks, HealthServer
from studio.ops.settings import Settings, load_settings
from studio.production import board, shotlist
from studio.production.people import actor
from studio.review.ballots import VOTE_AGAINST, VOTE_FOR
from tests.discord.test_review import _ready, open_vote, stored, until
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord.fixtures import Stage
from tests.fakes.notion.fixtures import with_notion
from tests.fakes.notion.server import FakeNotion

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def discord_settings(settings: Settings, discord_fake: FakeDiscord,
                     notion_fake: FakeNotion) -> Settings:
    return with_notion(settings, notion_fake, discord_guild_id=discord_fake.guild_id)


@pytest.fixture
async def metrics_url(stage: Stage) -> AsyncIterator[str]:
    server = HealthServer(Checks(), port=0, refreshers=[health.job_gauge(stage.studio.db)])
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.port}/metrics"
    finally:
        await server.stop()


async def scrape(url: str) -> Samples:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200
        text = await resp.text()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def test_a_session_moves_each_counter_by_what_happened(
        stage: Stage, notion_fake: FakeNotion, metrics_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake = stage.fake
    before = await scrape(metrics_url)

    claimed = await fake.as_user(stage.alice).slash("chapter claim", chapter=2)
    assert "now holds chapter 2" in claimed.content
    refused = await fake.as_user(stage.bob).slash("chapter claim", chapter=2)
    assert refused.ephemeral and "already claimed by Alice" in refused.content

    # A vote: cast 👍, switch to 👎 (a change), then withdraw it.
    await _ready(stage, tmp_path)
    posted = await open_vote(stage)
    voter = fake.as_user(stage.bob)
    await voter.react(posted[1], VOTE_FOR)
    await until(lambda: _is(stage, {1: (1, 0), 2: (0, 0)}))
    await voter.react(posted[1], VOTE_AGAINST)
    await until(lambda: _is(stage, {1: (0, 1), 2: (0, 0)}))
    await voter.unreact(posted[1], VOTE_AGAINST)
    await until(lambda: _is(stage, {1: (0, 0), 2: (0, 0)}))

    # Notion: connect, then a sync through a storm of two 429s.
    parent = notion_fake.add_parent_page()
    pat = fake.as_user(stage.pat)
    connected = await pat.slash("notion connect",
                                parent=f"https://www.notion.so/x-{parent.replace('-', '')}")
    assert "created the Chapters and Shots databases" in connected.content
    notion_fake.storm(2, retry_after=0)
    synced = await pat.slash("notion sync")
    assert "0 failed" in synced.content

    # The gateway: a reconnect (op 7) that resumes, then one whose session is gone, so the
    # bot identifies again.
    resumes, identifies = fake.resumes, fake.identifies
    await fake.force_reconnect()
    await reconnects_moved(metrics_url, before, 1)
    fake.expire_sessions()

    async def identify_at_once(shard_id: int | None, *, initial: bool = False) -> None:
        pass  # discord.py waits 5 s before identifying again, for Discord's limit: not here

    monkeypatch.setattr(stage.slate.bot, "before_identify_hook", identify_at_once)
    await fake.force_reconnect()
    await reconnects_moved(metrics_url, before, 2)
    assert fake.identifies == identifies + 1
    await fake.as_user(stage.bob).autocomplete("chapter claim", "chapter")
    info = await fake.as_user(stage.bob).slash("chapter info", chapter=2)
    assert "Chapter 2" in info.text
    after = await scrape(metrics_url)

    def interactions(command: str, outcome: str) -> float:
        return moved(before, after, "slate_interactions_total", command=command, outcome=outcome)

    assert interactions("chapter claim", "ok") == 1
    assert interactions("chapter claim", "refused") == 1
    assert interactions("chapter claim (autocomplete)", "ok") == 1  # apart from the command
    assert interactions("vote open", "ok") == 1
    assert interactions("notion connect", "ok") == 1
    assert interactions("notion sync", "ok") == 1
    assert moved(before, after, "slate_interaction_latency_seconds_count",
                 command="chapter claim") == 2
    assert moved(before, after, "slate_votes_total", action="cast") == 1
    assert moved(before, after, "slate_votes_total", action="changed") == 1
    assert moved(before, after, "slate_votes_total", action="removed") == 1
    # Every request the fake Notion answered is counted once, by how it was answered.
    assert moved(before, after, "slate_notion_requests_total", outcome="ok") == \
        notion_fake.calls(status=200) > 0
    assert moved(before, after, "slate_notion_requests_total", outcome="rate_limited") == 2
    assert moved(before, after, "slate_notion_requests_total", outcome="error") == 0
    assert moved(before, after, "slate_notion_rate_limited_total") == 2
    assert moved(before, after, "slate_gateway_reconnects_total") == 2
    assert fake.resumes == resumes + 1  # the second one did not resume


async def reconnects_moved(url: str, before: Samples, by: int, within: float = 15.0) -> None:
    """Wait until the bot has counted `by` gateway reconnects since `before`."""
    for _ in range(int(within / 0.05)):
        if moved(before, await scrape(url), "slate_gateway_reconnects_total") >= by:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the bot did not count {by} gateway reconnects")


async def _is(stage: Stage, expected: dict[int, tuple[int, int]]) -> bool:
    return await stored(stage) == {rev: (float(a), float(b)) for rev, (a, b) in expected.items()}


async def test_an_unexpected_error_counts_as_an_error(stage: Stage, metrics_url: str) -> None:
    before = await scrape(metrics_url)
    prod = await board.get(stage.studio.db, stage.fake.guild_id)
    assert prod is not None
    await stage.studio.db.close()  # the database goes away under the bot
    reply = await stage.fake.as_user(stage.alice).slash("chapter claim", chapter=1)
    assert reply.content.startswith("something went wrong")
    after = await scrape(metrics_url)
    assert moved(before, after, "slate_interactions_total", command="chapter claim",
                 outcome="error") == 1
    assert moved(before, after, "slate_interactions_total", command="chapter claim",
                 outcome="ok") == 0


async def test_a_cut_build_is_timed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    monkeypatch.chdir(tmp_path)
    small = load_settings(data_dir=tmp_path / "data", cut_width=160, cut_height=90,
                          cut_credits_seconds=0.5)
    studio = await Studio.open(small)
    server = HealthServer(Checks(), port=0)
    await server.start()
    try:
        prod = await board.setup(studio.db, 1, "Low Tide", producer_role="Producer")
        who = await actor(studio.db, prod, "Pat", discord_id=1, is_producer=True)
        await shotlist.import_shots(studio.db, prod, who, b"chapter,chapter_title,shot,"
                                    b"description,duration\n1,Dawn,1,Wide of the flats,1\n",
                                    "shots.csv")
        url = f"http://127.0.0.1:{server.port}/metrics"
        before = await scrape(url)
        built = await build.build(studio, prod)
        after = await scrape(url)
    finally:
        await server.stop()
        await studio.close()
    assert built.cut.verdict == "verified"
    assert moved(before, after, "slate_cut_build_seconds_count") == 1
    assert 0 < moved(before, after, "slate_cut_build_seconds_sum") < 60
