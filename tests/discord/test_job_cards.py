"""The job card end to end: real discord.py, the fake Discord, and the fake Runway task API.

Runway's fake reports progress on each poll (30 %, 60 %, 90 %), so a job moves through
submitted → running → done while the card follows it, edited at most every 2 s.
"""

from __future__ import annotations

import itertools

import pytest
from pydantic import SecretStr

from storage import jobs, takes
from studio.ops.settings import Settings
from studio.production import board
from tests.fakes.discord import FakeDiscord, Reply
from tests.fakes.discord.fixtures import Stage
from tests.fakes.discord.server import Call
from tests.fakes.providers.runway import KEY, FakeRunway
from tests.generation.helpers import job_in, until

EDIT_EVERY_S = 2.0


@pytest.fixture
def discord_settings(settings: Settings, discord_fake: FakeDiscord,
                     fake_runway: FakeRunway) -> Settings:
    return settings.model_copy(update={
        "discord_guild_id": discord_fake.guild_id, "runway_api_secret": SecretStr(KEY),
        "runway_base_url": fake_runway.url, "job_poll_seconds": 0.25, "animatic_width": 64})


def card_edits(fake: FakeDiscord, card: Reply, since: int) -> list[Call]:
    """Successful edits of the card, through its interaction or as a channel message."""
    channel_path = f"/api/v10/channels/{card.channel_id}/messages/{card.message_id}"
    return [c for c in fake.calls[since:] if c.method == "PATCH" and c.status == 200 and (
        c.path == channel_path or (c.path.startswith("/api/v10/webhooks/")
                                   and c.path.endswith("/messages/@original")))]


def reply_time(fake: FakeDiscord, since: int) -> float:
    return next(c.at for c in fake.calls[since:] if c.path.endswith("/callback"))


async def card_says(fake: FakeDiscord, card: Reply, words: str, within: float = 15) -> dict:
    async def shown() -> bool:
        return words in (fake.messages[card.message_id or 0].get("content") or "")

    await until(shown, within)
    return fake.messages[card.message_id or 0]



async def test_the_card_shows_progress_and_ends_done_edited_at_most_every_2_s(
        stage: Stage, fake_runway: FakeRunway) -> None:
    fake_runway.script.plan = ["RUNNING"] * 9 + ["SUCCEEDED"]
    alice = stage.fake.as_user(stage.alice)
    await alice.slash("chapter claim", chapter=2)
    since = len(stage.fake.calls)
    card = await alice.slash("generate", kind="image", shot="2.1", prompt="Gulls at dawn",
                             provider="runway")
    assert not card.ephemeral and "queued" in (card.content or "")
    assert card.button("Cancel")
    final = await card_says(stage.fake, card, "done")
    assert "100%" in final["content"] and "take r1" in final["content"]
    assert final["components"] == [], "no Cancel button once the job is done"
    edits = card_edits(stage.fake, card, since)
    shown = [c.body.get("content") or "" for c in edits]
    assert any("running" in text and "%" in text and "░" in text for text in shown), shown
    # The reply, then each edit, at least 2 s after the one before; runway reported more
    # changes (submitted, 30 %, 60 %, 90 %, done) than the card was edited.
    stamps = [reply_time(stage.fake, since)] + [c.at for c in edits]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert gaps and min(gaps) >= EDIT_EVERY_S - 0.01, gaps
    assert len(edits) < 5


async def test_after_15_minutes_the_card_is_edited_as_a_channel_message(
        stage: Stage, fake_runway: FakeRunway) -> None:
    fake_runway.script.plan = ["RUNNING"] * 4 + ["SUCCEEDED"]
    alice = stage.fake.as_user(stage.alice)
    await alice.slash("chapter claim", chapter=2)
    since = len(stage.fake.calls)
    card = await alice.slash("generate", kind="image", shot="2.1", prompt="Gulls",
                             provider="runway")
    stage.fake.advance(15 * 60 + 1)  # the interaction's token is dead from here on
    final = await card_says(stage.fake, card, "done")
    assert "take r1" in final["content"]
    later = stage.fake.calls[since:]
    by_channel = [c for c in later if c.method == "PATCH" and c.status == 200
                  and c.path == f"/api/v10/channels/{card.channel_id}/messages/{card.message_id}"]
    assert by_channel, "the card was edited through the channel once the token expired"
    refused = [c for c in later if c.path.startswith("/api/v10/webhooks/") and c.status == 401]
    assert len(refused) <= 1, "a dead token is tried at most once"


async def test_cancel_on_the_card_cancels_the_job_at_the_provider(
        stage: Stage, fake_runway: FakeRunway) -> None:
    fake_runway.script.plan = ["RUNNING"] * 200
    alice = stage.fake.as_user(stage.alice)
    await alice.slash("chapter claim", chapter=2)
    card = await alice.slash("generate", kind="image", shot="2.1", prompt="Gulls",
                             provider="runway")
    prod = await board.get(stage.studio.db, stage.fake.guild_id)
    job = (await jobs.listed(stage.studio.db.reader, prod.id))[0]
    await job_in(stage.studio, job.id, "running")
    bob = stage.fake.as_user(stage.bob)
    refused = await bob.click(card, "Cancel")
    assert refused.ephemeral and "creator or a producer" in (refused.content or "")
    done = await alice.click(card, "Cancel")
    assert done.ephemeral and f"Job #{job.id} is cancelled" in (done.content or "")
    assert (await jobs.get(stage.studio.db.reader, job.id)).state == "cancelled"
    assert fake_runway.cancelled, "the provider was asked to stop"
    final = await card_says(stage.fake, card, "cancelled")
    assert final["components"] == []


async def test_provider_choices_follow_the_kind_and_a_wrong_combination_is_refused(
        stage: Stage) -> None:
    alice = stage.fake.as_user(stage.alice)
    await alice.slash("chapter claim", chapter=2)
    video = await alice.autocomplete("generate", "provider", "", kind="video", shot="2.1")
    assert [c["value"] for c in video] == ["animatic", "runway"]
    voice = await alice.autocomplete("generate", "provider", "", kind="voice", shot="2.1")
    assert [c["value"] for c in voice] == ["animatic"]
    for options, reason in (
            ({"kind": "image", "voice_id": "narrator"}, "do not use voice_id (only voice)"),
            ({"kind": "voice", "prompt": "Hello", "strength": 0.3},
             "do not use strength (only upscale)"),
            ({"kind": "voice", "prompt": "Hello", "provider": "runway"},
             "runway does not make voice"),
            ({"kind": "image", "reference": 4}, "shot 2.1 has no take r4")):
        reply = await alice.slash("generate", shot="2.1", **options)
        assert reply.ephemeral and reason in (reply.content or ""), (options, reply.content)
    prod = await board.get(stage.studio.db, stage.fake.guild_id)
    assert await jobs.listed(stage.studio.db.reader, prod.id) == []
    assert await takes.of_shot(stage.studio.db.reader, 1) == []


async def test_a_restart_keeps_following_the_card_and_posts_the_take(
        stage: Stage, fake_runway: FakeRunway) -> None:
    fake_runway.script.plan = ["RUNNING"] * 6 + ["SUCCEEDED"]
    alice = stage.fake.as_user(stage.alice)
    await alice.slash("chapter claim", chapter=2)
    card = await alice.slash("generate", kind="image", shot="2.1", prompt="Gulls",
                             provider="runway")
    prod = await board.get(stage.studio.db, stage.fake.guild_id)
    job = (await jobs.listed(stage.studio.db.reader, prod.id))[0]
    await job_in(stage.studio, job.id, "running")
    await stage.slate.restart()
    final = await card_says(stage.fake, card, "done")
    assert "take r1" in final["content"] and final["components"] == []
    assert fake_runway.submissions == 1, "the running job was polled after the restart, not redone"
    posts: list[dict] = []

    async def posted() -> bool:
        posts[:] = [m for m in stage.fake.messages.values()
                    if m["content"].startswith("🎬 **Shot 2.1 · take r1**")]
        return bool(posts)

    await until(posted)
    assert len(posts) == 1 and posts[0]["attachments"][0]["filename"] == "2.1r1.png"


async def test_a_deleted_card_comes_back_as_a_new_post(stage: Stage,
                                                       fake_runway: FakeRunway) -> None:
    fake_runway.script.plan = ["RUNNING"] * 3 + ["SUCCEEDED"]
    stage.fake.expect_trouble = True  # type: ignore[attr-defined]  # edits of a deleted card 404
    alice = stage.fake.as_user(stage.alice)
    await alice.slash("chapter claim", chapter=2)
    card = await alice.slash("generate", kind="image", shot="2.1", prompt="Gulls",
                             provider="runway")
    await stage.fake.delete_message(card.message_id or 0)
    found: list[dict] = []

    async def reposted() -> bool:
        found[:] = [m for m in stage.fake.messages.values()
                    if m["channel_id"] == str(card.channel_id)
                    and m["content"].startswith("**Job #") and "done" in m["content"]]
        return bool(found)

    await until(reposted)
    assert len(found) == 1 and "take r1" in found[0]["content"]
    assert not stage.fake.failed_interactions
