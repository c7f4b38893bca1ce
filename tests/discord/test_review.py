"""Votes through the real discord.py client and the fake Discord: reactions to approvals."""

from __future__ import annotations

import asyncio
import inspect
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from storage import timers as timer_rows
from storage import vote_windows
from storage.productions import Production
from studio.production import board, claims, shots
from studio.production.people import actor
from studio.review import rules, windows
from studio.review.ballots import VOTE_AGAINST, VOTE_FOR
from studio.review.timers import stamp, utcnow
from tests.fakes.discord import FakeDiscord, User
from tests.fakes.discord.fixtures import Stage
from tests.review.helpers import takes_for


async def until(check: Callable[[], Awaitable[bool] | bool], within: float = 20.0) -> None:
    """Until `check()` holds (it may be a coroutine function or a plain one)."""
    deadline = asyncio.get_running_loop().time() + within
    while not await _held(check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting for the bot")
        await asyncio.sleep(0.02)


async def _held(value: Awaitable[bool] | bool) -> bool:
    return await value if inspect.isawaitable(value) else value


async def _ready(stage: Stage, tmp_path: Path, count: int = 2):
    """Alice holds chapter 1 and has `count` candidate takes on shot 1.1."""
    prod = await board.get(stage.studio.db, stage.fake.guild_id)
    alice = await actor(stage.studio.db, prod, "Alice", discord_id=stage.alice.id)
    await claims.claim(stage.studio.db, prod, alice, 1)
    await takes_for(stage.studio, prod, alice, "1.1", count, tmp_path)
    return prod


def candidate_messages(fake: FakeDiscord, channel_id: int, code: str) -> dict[int, int]:
    """Revision → message id of the takes' posts for shot `code` in a channel or its threads
    (each take lives in one post, in its chapter's thread, which carries its vote)."""
    where = {str(channel_id)} | {t["id"] for t in fake.threads
                                 if t.get("parent_id") == str(channel_id)}
    found = {}
    for message in fake.messages.values():
        text = message.get("content") or ""
        if message["channel_id"] in where and text.startswith(f"🎬 **Shot {code} · take r"):
            found[int(text.split("take r")[1].split("**")[0])] = int(message["id"])
    return found


def vote_of(message: dict) -> str:
    """The vote a take's post carries (its embed), as a member reads it."""
    return "\n".join(f"{e.get('title') or ''}\n{e.get('description') or ''}"
                     for e in message.get("embeds") or [])


def truth(fake: FakeDiscord, message_id: int) -> tuple[int, int] | None:
    """(for, against) as Discord shows it, or None while a member still shows both."""
    lists = fake.reactions.get(message_id, {})
    up = set(lists.get(VOTE_FOR, [])) - {fake.bot_user.id}
    down = set(lists.get(VOTE_AGAINST, [])) - {fake.bot_user.id}
    if up & down:
        return None
    return len(up), len(down)


async def stored(stage: Stage, code: str = "1.1") -> dict[int, tuple[float, float]]:
    prod = await board.get(stage.studio.db, stage.fake.guild_id)
    found = await windows.status(stage.studio.db, prod, code)
    return {c.take.revision: (c.tally.votes_for, c.tally.votes_against)
            for c in found.candidates}


async def open_vote(stage: Stage, hours: float = 1.0) -> dict[int, int]:
    reply = await stage.fake.as_user(stage.pat).slash("vote open", shot="1.1", hours=hours)
    assert "is open until" in reply.text, reply.text
    assert reply.ephemeral
    return candidate_messages(stage.fake, stage.takes.id, "1.1")


async def test_open_posts_one_message_per_take_with_seeded_reactions(stage: Stage, tmp_path):
    await _ready(stage, tmp_path)
    posted = await open_vote(stage)
    assert sorted(posted) == [1, 2]
    for message_id in posted.values():
        message = stage.fake.messages[message_id]
        assert message["attachments"], "the take is shown with its file"
        assert stage.fake.reactions[message_id] == {VOTE_FOR: [stage.fake.bot_user.id],
                                                    VOTE_AGAINST: [stage.fake.bot_user.id]}
    # No summary message: each take's post carries the vote.
    assert not [m for m in stage.fake.messages.values()
                if "Vote on shot 1.1" in (m.get("content") or "")]
    for message_id in posted.values():
        assert "Vote on shot 1.1 — open" in vote_of(stage.fake.messages[message_id])
    # The bot's seeded reactions are not votes.
    assert await stored(stage) == {1: (0, 0), 2: (0, 0)}
    # Bumping posts nothing twice.
    await stage.fake.as_user(stage.pat).slash("vote open", shot="1.1")
    assert candidate_messages(stage.fake, stage.takes.id, "1.1") == posted


async def test_two_producers_opening_at_once_post_each_take_once(stage: Stage, tmp_path):
    """Found by the soak: both opens saw the takes unposted and posted them twice; the
    first copies, no longer on record, silently ignored every vote cast on them."""
    await _ready(stage, tmp_path)
    producers = [stage.fake.as_user(stage.pat), stage.fake.as_user(
        stage.fake.add_user("Quinn", stage.producer_role))]
    replies = await asyncio.gather(*(p.slash("vote open", shot="1.1", hours=1.0)
                                     for p in producers))
    assert all("is open until" in r.text for r in replies)
    posts = [m for m in stage.fake.messages.values()
             if (m.get("content") or "").startswith("🎬 **Shot 1.1 · take r")]
    assert len(posts) == 2  # one per take
    prod = await board.get(stage.studio.db, stage.fake.guild_id)
    status = await windows.status(stage.studio.db, prod, "1.1")
    assert sorted(c.message.message_id for c in status.candidates if c.message) == \
        sorted(int(m["id"]) for m in posts)
    assert all("Vote on shot 1.1 — open" in vote_of(m) for m in posts)


async def test_rapid_reactions_end_in_exact_tallies(stage: Stage, tmp_path):
    await _ready(stage, tmp_path)
    posted = await open_vote(stage)
    people = [stage.fake.add_user(f"voter{n}") for n in range(30)]
    rng = random.Random(5)
    for _ in range(600):
        who = stage.fake.as_user(rng.choice(people))
        message_id = posted[rng.choice([1, 2])]
        emoji = rng.choice([VOTE_FOR, VOTE_AGAINST])
        if rng.random() < 0.6:
            await who.react(message_id, emoji)
        else:
            await who.unreact(message_id, emoji)

    async def settled() -> bool:
        shown = {rev: truth(stage.fake, mid) for rev, mid in posted.items()}
        if None in shown.values():
            return False
        return await stored(stage) == {rev: (float(a), float(b))
                                       for rev, (a, b) in shown.items()}  # type: ignore[misc]
    await until(settled)
    # A switch leaves one reaction: the bot took the member's other one away.
    assert all(truth(stage.fake, mid) is not None for mid in posted.values())


async def test_reactions_while_stopped_are_counted_after_restart(stage: Stage, tmp_path):
    await _ready(stage, tmp_path)
    posted = await open_vote(stage)
    early = stage.fake.add_user("early")
    await stage.fake.as_user(early).react(posted[1], VOTE_FOR)
    await until(lambda: _equals(stage, {1: (1, 0), 2: (0, 0)}))
    await stage.slate.stop()

    # 130 members react while the bot is away (more than one page of 100), one withdraws.
    crowd = [stage.fake.add_user(f"crowd{n}") for n in range(130)]
    for person in crowd:
        await stage.fake.as_user(person).react(posted[2], VOTE_FOR)
    for person in crowd[:7]:
        await stage.fake.as_user(person).react(posted[1], VOTE_AGAINST)
    await stage.fake.as_user(early).unreact(posted[1], VOTE_FOR)

    await stage.slate.start()
    await until(lambda: _equals(stage, {1: (0, 7), 2: (130, 0)}))
    pages = [c for c in stage.fake.calls if c.method == "GET" and "/reactions/" in c.path]
    assert len(pages) >= 5  # two pages for the crowd's 👍, one for each other list


async def _equals(stage: Stage, expected: dict[int, tuple[int, int]]) -> bool:
    return await stored(stage) == {k: (float(a), float(b)) for k, (a, b) in expected.items()}


async def test_deleted_candidate_message_drops_its_votes(stage: Stage, tmp_path):
    await _ready(stage, tmp_path)
    posted = await open_vote(stage)
    await stage.fake.as_user(stage.bob).react(posted[1], VOTE_FOR)
    await stage.fake.as_user(stage.bob).react(posted[2], VOTE_FOR)
    await until(lambda: _equals(stage, {1: (1, 0), 2: (1, 0)}))
    await stage.fake.delete_message(posted[1])
    await until(lambda: _equals(stage, {1: (0, 0), 2: (1, 0)}))
    status = await stage.fake.as_user(stage.bob).slash("vote status", shot="1.1")
    assert "not posted" in status.text
    await stage.fake.as_user(stage.pat).slash("vote open", shot="1.1")
    again = candidate_messages(stage.fake, stage.takes.id, "1.1")
    assert again[2] == posted[2] and again[1] != posted[1]


async def _cast(fake: FakeDiscord, voters: list[User], message_id: int, emoji: str) -> None:
    for person in voters:
        await fake.as_user(person).react(message_id, emoji)


async def test_close_approves_the_winner_and_notifies_the_chapter(stage: Stage, tmp_path):
    prod = await _ready(stage, tmp_path)
    posted = await open_vote(stage)
    crowd = [stage.fake.add_user(f"v{n}") for n in range(4)]
    await _cast(stage.fake, crowd, posted[2], VOTE_FOR)
    await _cast(stage.fake, crowd[:1], posted[1], VOTE_FOR)
    await until(lambda: _equals(stage, {1: (1, 0), 2: (4, 0)}))
    reply = await stage.fake.as_user(stage.pat).slash("vote close", shot="1.1")
    assert "take r2 of shot 1.1 is approved" in reply.text
    shot = (await shots.shot(stage.studio.db, prod, "1.1")).shot
    assert shot.status == "approved"
    assert len(stage.fake.threads) == 1 and "Chapter 1" in stage.fake.threads[0]["name"]
    thread_id = int(stage.fake.threads[0]["id"])
    notices = [m["content"] for m in stage.fake.messages.values()
               if m["channel_id"] == str(thread_id)]
    assert any("take r2 approved by vote" in n for n in notices)
    # Votes after the close change nothing: once the bot has handled Bob's reaction.
    cog = stage.slate.bot.get_cog("ReviewCog")  # type: ignore[union-attr]
    seen = cog.handled
    await stage.fake.as_user(stage.bob).react(posted[1], VOTE_FOR)
    await until(lambda: cog.handled > seen)
    assert await _equals(stage, {1: (1, 0), 2: (4, 0)})


async def test_tie_and_missed_quorum_ping_the_producers(stage: Stage, tmp_path):
    await _ready(stage, tmp_path)
    posted = await open_vote(stage)
    crowd = [stage.fake.add_user(f"v{n}") for n in range(3)]
    await _cast(stage.fake, crowd, posted[1], VOTE_FOR)
    await _cast(stage.fake, crowd, posted[2], VOTE_FOR)
    await until(lambda: _equals(stage, {1: (3, 0), 2: (3, 0)}))
    reply = await stage.fake.as_user(stage.pat).slash("vote close", shot="1.1")
    assert "without a winner" in reply.text and "tie" in reply.text
    pings = [m for m in stage.fake.messages.values()
             if f"<@&{stage.producer_role.id}>" in (m.get("content") or "")]
    assert len(pings) == 1 and "shot 1.1" in pings[0]["content"]
    queue = await stage.fake.as_user(stage.pat).slash("review queue")
    assert "1.1" in queue.text and "waiting for a decision" in queue.text

    # Reopened with a quorum of 5: three voters are not enough.
    await stage.fake.as_user(stage.pat).slash("vote open", shot="1.1", hours=2.0)
    prod = await board.get(stage.studio.db, stage.fake.guild_id)
    pat = await actor(stage.studio.db, prod, "Pat", discord_id=stage.pat.id, is_producer=True)
    await rules.configure(stage.studio.db, prod, pat, quorum=5)
    reply = await stage.fake.as_user(stage.pat).slash("vote close", shot="1.1")
    assert "too few members voted" in reply.text
    # A producer decides directly.
    approved = await stage.fake.as_user(stage.pat).slash("approve", take="1.1r1")
    assert "is approved" in approved.text


async def test_refusals(stage: Stage, tmp_path):
    await _ready(stage, tmp_path)
    bob = stage.fake.as_user(stage.bob)
    alice = stage.fake.as_user(stage.alice)
    refused = await bob.slash("vote open", shot="1.1")
    assert refused.ephemeral and "needs the Producer role" in refused.text
    assert candidate_messages(stage.fake, stage.takes.id, "1.1") == {}
    refused = await alice.slash("approve", take="1.1r1")
    assert refused.ephemeral and "needs the Producer role" in refused.text
    refused = await bob.slash("retake", shot="1.1", note="no")
    assert refused.ephemeral and "needs the Producer role" in refused.text
    refused = await stage.fake.as_user(stage.pat).slash("vote close", shot="1.1")
    assert "no vote running" in refused.text
    refused = await stage.fake.as_user(stage.pat).slash("approve", take="banana")
    assert "is not a take" in refused.text
    # The chapter owner may open the vote on their shot.
    opened = await alice.slash("vote open", shot="1.1")
    assert "is open until" in opened.text


async def test_retake_pings_the_owner_in_the_chapter_thread(stage: Stage, tmp_path):
    await _ready(stage, tmp_path)
    await open_vote(stage)
    reply = await stage.fake.as_user(stage.pat).slash("retake", shot="1.1",
                                                      note="calmer sea, please")
    assert f"<@{stage.alice.id}>" in reply.text
    thread_id = stage.fake.threads[0]["id"]
    notice = [m for m in stage.fake.messages.values() if m["channel_id"] == thread_id]
    assert notice and "calmer sea, please" in notice[-1]["content"]
    assert f"<@{stage.alice.id}>" in notice[-1]["content"]


async def end_open_votes(stage: Stage, prod: Production) -> None:
    """While the bot is down: every open vote's deadline (and its close timer) passes."""
    from studio.app import Studio

    offline = await Studio.open(stage.slate.settings)
    try:
        past = stamp(utcnow() - timedelta(minutes=1))
        async with offline.db.transaction() as tx:
            for window in await vote_windows.in_state(tx, prod.id, "open"):
                await vote_windows.set_deadline(tx, window.id, past)
            for timer in await timer_rows.due(tx, "9999"):
                await timer_rows.set_expiry(tx, timer.id, past)
    finally:
        await offline.close()


async def test_deadline_closes_the_vote_after_a_restart(stage: Stage, tmp_path):
    prod = await _ready(stage, tmp_path)
    await rules.configure(stage.studio.db, prod,
                           await actor(stage.studio.db, prod, "Pat", discord_id=stage.pat.id,
                                       is_producer=True), quorum=1)
    posted = await open_vote(stage, hours=5.0)
    await stage.slate.stop()
    # While the bot is down, a member votes and the deadline passes.
    await stage.fake.as_user(stage.bob).react(posted[2], VOTE_FOR)
    await end_open_votes(stage, prod)
    await stage.slate.start()

    async def closed() -> bool:
        windows = await vote_windows.in_state(stage.studio.db.reader, prod.id, "closed")
        return bool(windows)
    await until(closed)
    shot = (await shots.shot(stage.studio.db, prod, "1.1")).shot
    assert shot.status == "approved"
    approved = await windows.status(stage.studio.db, prod, "1.1")
    assert approved.window is not None and approved.window.winner_take_id is not None
    winner = next(c for c in approved.candidates if c.take.id == approved.window.winner_take_id)
    assert winner.take.revision == 2 and winner.tally.votes_for == 1


async def test_remove_all_and_producer_weight(stage: Stage, tmp_path):
    prod = await _ready(stage, tmp_path)
    pat = await actor(stage.studio.db, prod, "Pat", discord_id=stage.pat.id, is_producer=True)
    await rules.configure(stage.studio.db, prod, pat, producer_weight=2)
    posted = await open_vote(stage)
    await stage.fake.as_user(stage.pat).react(posted[1], VOTE_FOR)
    await stage.fake.as_user(stage.bob).react(posted[1], VOTE_AGAINST)
    # The creator's own vote does not count by default.
    await stage.fake.as_user(stage.alice).react(posted[1], VOTE_FOR)
    await until(lambda: _equals(stage, {1: (2, 1), 2: (0, 0)}))
    await stage.fake.remove_all_reactions(posted[1])
    await until(lambda: _equals(stage, {1: (0, 0), 2: (0, 0)}))
    # The bot seeds the vote reactions again, and they still never count.
    async def seeded() -> bool:
        shown = stage.fake.reactions.get(posted[1], {})
        return all(int(stage.fake.bot_user.id) in map(int, shown.get(e, ()))
                   for e in (VOTE_FOR, VOTE_AGAINST))
    await until(seeded)
    await stage.fake.as_user(stage.bob).react(posted[1], VOTE_FOR)
    await until(lambda: _equals(stage, {1: (1, 0), 2: (0, 0)}))


async def test_review_settings_for_producers_only(stage: Stage, tmp_path):
    shown = await stage.fake.as_user(stage.bob).slash("review settings")
    assert "Quorum **3**" in shown.text
    refused = await stage.fake.as_user(stage.bob).slash("review settings", quorum=1)
    assert "needs the Producer role" in refused.text
    changed = await stage.fake.as_user(stage.pat).slash("review settings", quorum=1,
                                                        producer_weight=2.0)
    assert "Quorum **1**" in changed.text and "weigh **2**" in changed.text


async def test_deadline_closes_a_running_vote_and_pings_producers(stage: Stage, tmp_path):
    prod = await _ready(stage, tmp_path)
    await open_vote(stage, hours=5.0)
    past = stamp(utcnow() - timedelta(seconds=1))
    async with stage.studio.db.transaction() as tx:
        for window in await vote_windows.in_state(tx, prod.id, "open"):
            await vote_windows.set_deadline(tx, window.id, past)
        for timer in await timer_rows.due(tx, "9999"):
            await timer_rows.set_expiry(tx, timer.id, past)
    assert stage.slate.bot is not None
    stage.slate.bot.get_cog("ReviewCog").timers.poke()  # type: ignore[union-attr]

    def pings() -> list[dict]:
        return [m for m in stage.fake.messages.values()
                if f"<@&{stage.producer_role.id}>" in (m.get("content") or "")]

    async def announced() -> bool:
        # The decision is committed first, then announced.
        return bool(pings())
    await until(announced)
    assert await vote_windows.in_state(stage.studio.db.reader, prod.id, "decision")
    assert len(pings()) == 1 and "too few members voted" in pings()[0]["content"]


async def test_take_autocomplete_on_approve(stage: Stage, tmp_path):
    await _ready(stage, tmp_path)
    choices = await stage.fake.as_user(stage.pat).autocomplete("approve", "take", "1.1")
    assert [c["value"] for c in choices] == ["1.1r1", "1.1r2"]
    assert await stage.fake.as_user(stage.alice).autocomplete("approve", "take", "") == []


async def test_a_producer_vote_cast_while_stopped_keeps_its_weight(stage: Stage, tmp_path):
    prod = await _ready(stage, tmp_path)
    pat = await actor(stage.studio.db, prod, "Pat", discord_id=stage.pat.id, is_producer=True)
    await rules.configure(stage.studio.db, prod, pat, producer_weight=2)
    posted = await open_vote(stage)
    await stage.slate.stop()
    await stage.fake.as_user(stage.pat).react(posted[2], VOTE_FOR)
    await stage.fake.as_user(stage.bob).react(posted[2], VOTE_FOR)
    await stage.slate.start()
    await until(lambda: _equals(stage, {1: (0, 0), 2: (3, 0)}))
