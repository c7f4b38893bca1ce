"""What a server's members see (issue 22): the board where it belongs, votes that close
visibly and say whose votes count, and one place per take — through the fake Discord."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from studio.production import board
from studio.production.people import actor
from studio.review import rules, windows
from studio.review.ballots import VOTE_AGAINST, VOTE_FOR
from tests import media_kit
from tests.discord.test_review import _ready, end_open_votes, until
from tests.fakes.discord import Attachment, FakeDiscord
from tests.fakes.discord.fixtures import EXAMPLES, Stage

EPHEMERAL = 64


def bot_messages(fake: FakeDiscord, channel_id: int) -> list[dict[str, Any]]:
    return [m for m in fake.messages.values() if m["channel_id"] == str(channel_id)
            and m["author"]["id"] == str(fake.bot_user.id)]


def shown(message: dict[str, Any]) -> str:
    """A message's words as a member reads them: its content and its embeds."""
    parts = [message.get("content") or ""]
    for embed in message.get("embeds") or []:
        parts += [embed.get("title") or "", embed.get("description") or ""]
    return "\n".join(parts)


def board_text(message: dict[str, Any]) -> str:
    embed = (message.get("embeds") or [{}])[0]
    return "\n".join([embed.get("title") or "", embed.get("description") or "",
                      (embed.get("footer") or {}).get("text") or ""])


async def the_board(stage: Stage, words: str, within: float = 20.0) -> dict[str, Any]:
    """The one pinned board message in the board channel, once it shows `words`."""
    found: list[dict[str, Any]] = []

    async def shown() -> bool:
        found[:] = bot_messages(stage.fake, stage.board.id)
        return len(found) == 1 and found[0]["pinned"] and words in board_text(found[0])
    await until(shown, within)
    return found[0]


async def test_the_board_is_one_pinned_message_edited_in_place_and_posted_again(
        stage: Stage, tmp_path: Path) -> None:
    # Posted at set-up (before the shot list), then edited as the shot list came in.
    posted = await the_board(stage, "8 chapters, 0 claimed")

    alice, pat = stage.fake.as_user(stage.alice), stage.fake.as_user(stage.pat)
    await alice.slash("chapter claim", chapter=1)
    claimed = await the_board(stage, f"<@{stage.alice.id}>")
    assert claimed["id"] == posted["id"], "edited in place, not posted again"

    await pat.slash("schedule due", chapter=1, date="2026-05-01")
    assert (await the_board(stage, "due 2026-05-01"))["id"] == posted["id"]

    # A chapter titled in Chinese shows as written.
    listed = (EXAMPLES / "low_tide.csv").read_text() + "9,潮汐之后,,1,海浪拍岸,2,,,\n"
    imported = await pat.slash("shot import", file=Attachment("zh.csv", listed.encode()))
    assert "imported" in imported.text, imported.text
    assert (await the_board(stage, "**9. 潮汐之后**"))["id"] == posted["id"]

    # An approval moves the chapter's count.
    prod = await board.get(stage.studio.db, stage.fake.guild_id)
    who = await actor(stage.studio.db, prod, "Alice", discord_id=stage.alice.id)
    from tests.review.helpers import takes_for
    await takes_for(stage.studio, prod, who, "1.1", 1, tmp_path)
    await pat.slash("approve", take="1.1r1")
    approved = await the_board(stage, "1/41 shots approved")
    assert approved["id"] == posted["id"]
    assert re.search(r"\*\*1\. [^\n]*· 1/\d+ approved", board_text(approved))

    # Deleted by a moderator: posted again and pinned.
    await stage.fake.delete_message(int(posted["id"]))
    again = await the_board(stage, "潮汐之后")
    assert again["id"] != posted["id"]

    # Asking for the board answers privately, unless the channel is to see it.
    private = await stage.fake.as_user(stage.bob).slash("production status")
    assert private.ephemeral and "Low Tide — production board" in private.text
    public = await stage.fake.as_user(stage.bob).slash("production status", public=True)
    assert not public.ephemeral and "潮汐之后" in public.text
    shot = await stage.fake.as_user(stage.bob).slash("shot info", shot="9.1")
    assert shot.ephemeral and "海浪拍岸" in shot.text
    shown = await stage.fake.as_user(stage.bob).slash("shot info", shot="9.1", public=True)
    assert not shown.ephemeral
    assert len(bot_messages(stage.fake, stage.board.id)) == 1


async def test_the_board_deleted_while_the_bot_was_down_is_posted_again(stage: Stage) -> None:
    posted = await the_board(stage, "8 chapters")
    stage.fake.expect_trouble = True  # type: ignore[attr-defined]  # the gone message's 404
    await stage.slate.stop()
    await stage.fake.delete_message(int(posted["id"]))
    await stage.slate.start()
    again = await the_board(stage, "8 chapters")
    assert again["id"] != posted["id"]
    assert not stage.fake.failed_interactions


# --- votes ----------------------------------------------------------------------------------

async def vote_posts(stage: Stage, code: str = "1.1") -> dict[int, int]:
    """Revision → id of the message carrying that take's vote, as recorded."""
    prod = await board.get(stage.studio.db, stage.fake.guild_id)
    found = await windows.status(stage.studio.db, prod, code)
    return {c.take.revision: c.message.message_id for c in found.candidates if c.message}


def vote_summaries(fake: FakeDiscord) -> list[dict[str, Any]]:
    return [m for m in fake.messages.values() if "Vote on shot" in shown(m)]


async def _tally(stage: Stage) -> dict[int, tuple[float, float]]:
    prod = await board.get(stage.studio.db, stage.fake.guild_id)
    found = await windows.status(stage.studio.db, prod, "1.1")
    return {c.take.revision: (c.tally.votes_for, c.tally.votes_against)
            for c in found.candidates}


async def test_a_closed_vote_says_so_with_its_result_and_ignores_later_reactions(
        stage: Stage, tmp_path: Path) -> None:
    await _ready(stage, tmp_path)
    opened = await stage.fake.as_user(stage.pat).slash("vote open", shot="1.1", hours=1.0)
    assert "is open until" in opened.text
    posts = await vote_posts(stage)
    crowd = [stage.fake.add_user(f"v{n}") for n in range(4)]
    for person in crowd:
        await stage.fake.as_user(person).react(posts[2], VOTE_FOR)
    await stage.fake.as_user(crowd[0]).react(posts[1], VOTE_AGAINST)

    async def counted() -> bool:
        return await _tally(stage) == {1: (0.0, 1.0), 2: (4.0, 0.0)}
    await until(counted)
    closed = await stage.fake.as_user(stage.pat).slash("vote close", shot="1.1")
    assert "approved" in closed.text

    winner = shown(stage.fake.messages[posts[2]])
    loser = shown(stage.fake.messages[posts[1]])
    for text in (winner, loser):
        assert "Vote with" not in text and "closes <t:" not in text, text
        assert "vote closed" in text.lower(), text
        assert "not counted" in text, text  # reactions from now on
    assert "approved" in winner and f"{VOTE_FOR} 4" in winner and f"{VOTE_AGAINST} 0" in winner
    assert f"{VOTE_FOR} 0" in loser and f"{VOTE_AGAINST} 1" in loser
    for summary in vote_summaries(stage.fake):
        assert "closes <t:" not in shown(summary), shown(summary)

    # A reaction after the close: handled (the gateway event reached the bot), not counted.
    bot = stage.slate.bot
    assert bot is not None
    seen = asyncio.ensure_future(bot.wait_for(
        "raw_reaction_add", check=lambda p: p.user_id == stage.bob.id, timeout=10))
    await stage.fake.as_user(stage.bob).react(posts[1], VOTE_FOR)
    await seen
    await bot.get_cog("ReviewCog").settled()  # type: ignore[union-attr]
    assert await _tally(stage) == {1: (0.0, 1.0), 2: (4.0, 0.0)}


async def test_a_vote_whose_window_ended_while_the_bot_was_down_shows_it_closed(
        stage: Stage, tmp_path: Path) -> None:
    prod = await _ready(stage, tmp_path)
    await stage.fake.as_user(stage.pat).slash("vote open", shot="1.1", hours=5.0)
    posts = await vote_posts(stage)
    await stage.slate.stop()
    await end_open_votes(stage, prod)
    await stage.slate.start()

    async def shown_closed() -> bool:
        return all("vote closed" in shown(stage.fake.messages[m]).lower()
                   for m in posts.values())
    await until(shown_closed)
    text = shown(stage.fake.messages[posts[1]])
    assert "too few members voted" in text and "Vote with" not in text


async def test_the_vote_line_says_that_creators_own_votes_are_not_counted(
        stage: Stage, tmp_path: Path) -> None:
    await _ready(stage, tmp_path)
    await stage.fake.as_user(stage.pat).slash("vote open", shot="1.1", hours=1.0)
    posts = await vote_posts(stage)
    for message_id in posts.values():
        assert "creators' own votes are not counted" in shown(stage.fake.messages[message_id])
    # Alice made the takes: her reaction shows on Discord but is not a vote.
    seen = asyncio.ensure_future(stage.slate.bot.wait_for(  # type: ignore[union-attr]
        "raw_reaction_add", check=lambda p: p.user_id == stage.alice.id, timeout=10))
    await stage.fake.as_user(stage.alice).react(posts[1], VOTE_FOR)
    await seen
    await stage.slate.bot.get_cog("ReviewCog").settled()  # type: ignore[union-attr]
    assert await _tally(stage) == {1: (0.0, 0.0), 2: (0.0, 0.0)}
    # When the production lets them count, the line says that instead.
    await stage.fake.as_user(stage.pat).slash("review settings", creator_votes_count=True)
    await stage.fake.as_user(stage.pat).slash("vote open", shot="1.1")
    text = shown(stage.fake.messages[posts[1]])
    assert "creators' own votes count" in text and "not counted" not in text


# --- one place per take ---------------------------------------------------------------------

MESSAGES_PER_APPROVED_TAKE_BEFORE = 6  # measured on the code before issue 22 with this test
MESSAGES_PER_APPROVED_TAKE = 3  # the job card, the take's post, the approval notice


async def test_an_approved_take_costs_three_public_messages_and_one_upload(
        stage: Stage) -> None:
    alice, pat = stage.fake.as_user(stage.alice), stage.fake.as_user(stage.pat)
    await alice.slash("chapter claim", chapter=2)
    await rules.configure(
        stage.studio.db, await board.get(stage.studio.db, stage.fake.guild_id),
        await actor(stage.studio.db, await board.get(stage.studio.db, stage.fake.guild_id),
                    "Pat", discord_id=stage.pat.id, is_producer=True), quorum=3)
    before = set(stage.fake.messages)
    card = await alice.slash("generate", kind="image", shot="2.1", prompt="Gulls", seed=5)

    async def take_posted() -> bool:
        return any("take r1" in (m.get("content") or "") and m.get("attachments")
                   for m in stage.fake.messages.values())
    await until(take_posted)
    await pat.slash("vote open", shot="2.1", hours=1.0)
    posts = await vote_posts(stage, "2.1")
    for n in range(3):
        await stage.fake.as_user(stage.fake.add_user(f"fan{n}")).react(posts[1], VOTE_FOR)

    async def counted() -> bool:
        prod = await board.get(stage.studio.db, stage.fake.guild_id)
        found = await windows.status(stage.studio.db, prod, "2.1")
        return found.candidates[0].tally.votes_for == 3
    await until(counted)
    closed = await pat.slash("vote close", shot="2.1")
    assert "is approved" in closed.text

    async def card_final() -> bool:
        return "take r1" in (stage.fake.messages[card.message_id or 0].get("content") or "")
    await until(card_final)
    new = [m for mid, m in stage.fake.messages.items() if mid not in before
           and m["author"]["id"] == str(stage.fake.bot_user.id)
           and not int(m.get("flags") or 0) & EPHEMERAL
           and m["channel_id"] != str(stage.board.id)]
    uploads = sum(len(m.get("attachments") or []) for m in new)
    print(f"messages per approved take: {len(new)}, uploads: {uploads}")
    for m in new:
        print("  ", m["channel_id"], (m.get("content") or "")[:100].replace("\n", " | "))
    assert len(new) == MESSAGES_PER_APPROVED_TAKE, [m.get("content") for m in new]
    assert uploads == 1
    # The take lives in one post: its file, its buttons, its vote and its result.
    post = stage.fake.messages[posts[1]]
    assert post["attachments"] and stage.fake.reply_of(post).button("Re-roll")
    assert "approved" in shown(post) and f"{VOTE_FOR} 3" in shown(post)
    # The job card links to that post, and the approval is announced once.
    link = f"/{post['channel_id']}/{post['id']}"
    assert link in (stage.fake.messages[card.message_id or 0].get("content") or "")
    announced = [m for m in new if "approved by vote" in (m.get("content") or "")]
    assert len(announced) == 1


async def test_an_uploaded_take_is_voted_on_in_the_post_it_already_has(
        stage: Stage, tmp_path: Path) -> None:
    alice, pat = stage.fake.as_user(stage.alice), stage.fake.as_user(stage.pat)
    await alice.slash("chapter claim", chapter=2)
    clip = media_kit.video(tmp_path / "港口.mp4", seconds=1, size="160x90")
    added = await alice.slash("take upload", shot="2.1",
                              file=Attachment("港口.mp4", clip.read_bytes()))
    assert "take r1 of shot 2.1 added" in added.text

    def take_posts() -> list[dict[str, Any]]:
        return [m for m in stage.fake.messages.values()
                if "take r1" in (m.get("content") or "") and m.get("attachments")]

    async def posted_once() -> bool:
        return len(take_posts()) == 1
    await until(posted_once)
    upload_post = take_posts()[0]
    await pat.slash("vote open", shot="2.1", hours=1.0)
    posts = await vote_posts(stage, "2.1")
    # The vote went onto the upload's own post: no second copy of the file, no summary.
    assert posts == {1: int(upload_post["id"])}
    assert len(take_posts()) == 1
    assert VOTE_FOR in shown(stage.fake.messages[posts[1]]) or any(
        r.get("emoji", {}).get("name") == VOTE_FOR
        for r in stage.fake.messages[posts[1]].get("reactions") or [])
