"""The slash commands end to end: real discord.py against the fake Discord."""

from __future__ import annotations

import asyncio
import json
import logging
import re

import pytest

from studio.production import board as production_board
from studio.production import shots
from tests.fakes.discord import Attachment, Rejected
from tests.fakes.discord.fixtures import SlateRunner, Stage
from tests.fakes.discord.server import eventually


async def owner_of(stage: Stage, number: int) -> str | None:
    prod = await production_board.get(stage.studio.db, stage.fake.guild_id)
    detail = await production_board.chapter_detail(stage.studio.db, prod, number)
    return detail.owner.name if detail.owner else None


async def test_login_syncs_guild_commands_once(stage: Stage) -> None:
    fake = stage.fake
    assert fake.command_syncs == 1
    assert {c["name"] for c in fake.commands[fake.guild_id]} == {
        "production", "chapter", "shot", "schedule", "cut", "vote", "review", "approve",
        "retake", "notion", "generate", "jobs", "take", "stem", "budget", "character"}
    assert fake.commands.get(None) is None  # DISCORD_GUILD_ID set: nothing global
    await stage.slate.restart()
    assert fake.command_syncs == 1  # the tree did not change: no second sync
    assert fake.identifies == 2
    # A tree that differs from the last synced one (here: a stale stored hash) syncs again.
    stored = stage.slate.settings.data_dir / "discord_commands.json"
    stored.write_text(json.dumps(dict.fromkeys(json.loads(stored.read_text()), "0" * 64)))
    await stage.slate.restart()
    assert fake.command_syncs == 2
    privileged = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, message content
    assert all(session.intents & privileged == 0 for session in fake.sessions.values())


async def test_claim_race_has_one_winner(stage: Stage) -> None:
    alice, bob = stage.fake.as_user(stage.alice), stage.fake.as_user(stage.bob)
    replies = await asyncio.gather(alice.slash("chapter claim", chapter=3),
                                   bob.slash("chapter claim", chapter=3))
    won = [r for r in replies if "now holds chapter 3" in (r.content or "")]
    lost = [r for r in replies if r not in won]
    assert len(won) == 1 and len(lost) == 1
    assert not won[0].ephemeral
    assert lost[0].ephemeral and "already claimed" in (lost[0].content or "")
    winner = "Alice" if f"<@{stage.alice.id}>" in won[0].content else "Bob"
    assert await owner_of(stage, 3) == winner


async def test_claim_then_release(stage: Stage) -> None:
    alice = stage.fake.as_user(stage.alice)
    await alice.slash("chapter claim", chapter=2)
    refused = await stage.fake.as_user(stage.bob).slash("chapter release", chapter=2)
    assert refused.ephemeral and "held by Alice, not you" in refused.content
    released = await alice.slash("chapter release", chapter=2)
    assert "is open again" in released.content
    assert await owner_of(stage, 2) is None


@pytest.mark.parametrize(("command", "options", "doing"), [
    ("chapter assign", {"chapter": 1}, "assigning a chapter"),
    ("chapter unassign", {"chapter": 1}, "freeing a chapter"),
    ("schedule due", {"chapter": 1, "date": "2026-05-01"}, "setting a due date"),
    ("shot import", {}, "importing a shot list"),
])
async def test_producer_commands_refuse_others_naming_the_role(
        stage: Stage, command: str, options: dict, doing: str) -> None:
    await stage.fake.as_user(stage.bob).slash("chapter claim", chapter=1)
    if command == "chapter assign":
        options["member"] = stage.alice
    if command == "shot import":
        options["file"] = Attachment("shots.csv", b"chapter,shot,description,duration\n1,9,x,2\n")
    reply = await stage.fake.as_user(stage.alice).slash(command, **options)
    assert reply.ephemeral
    assert reply.content == f"{doing} needs the Producer role"
    assert await owner_of(stage, 1) == "Bob"
    detail = await production_board.chapter_detail(
        stage.studio.db, await production_board.get(stage.studio.db, stage.fake.guild_id), 1)
    assert detail.chapter.due_date is None and len(detail.shots) == 5


async def test_producer_assigns_and_sets_due(stage: Stage) -> None:
    pat = stage.fake.as_user(stage.pat)
    reply = await pat.slash("chapter assign", chapter=4, member=stage.alice)
    assert f"assigned to <@{stage.alice.id}>" in reply.content
    reply = await pat.slash("schedule due", chapter=4, date="2026-06-30")
    assert "due: 2026-06-30" in reply.content
    bad = await pat.slash("schedule due", chapter=4, date="next friday")
    assert bad.ephemeral and "is not a date" in bad.content
    board = await stage.fake.as_user(stage.bob).slash("production status")
    assert "**4. " in board.text and "due 2026-06-30" in board.text
    assert f"<@{stage.alice.id}>" in board.text


async def test_setup_needs_manage_server(stage: Stage) -> None:
    reply = await stage.fake.as_user(stage.pat).slash(
        "production setup", title="Hijacked", producer_role=stage.producer_role)
    assert reply.ephemeral
    assert reply.content == "setting up the production needs the Manage Server permission"
    prod = await production_board.get(stage.studio.db, stage.fake.guild_id)
    assert prod.title == "Low Tide"


async def test_autocomplete_offers_what_the_user_may_act_on(stage: Stage) -> None:
    alice = stage.fake.as_user(stage.alice)
    await alice.slash("chapter claim", chapter=5)
    claimable = await alice.autocomplete("chapter claim", "chapter")
    assert [c["value"] for c in claimable] == [1, 2, 3, 4, 6, 7, 8]
    releasable = await alice.autocomplete("chapter release", "chapter")
    assert [c["value"] for c in releasable] == [5]
    assert await alice.autocomplete("chapter unassign", "chapter") == []
    unassignable = await stage.fake.as_user(stage.pat).autocomplete("chapter unassign",
                                                                    "chapter")
    assert [c["value"] for c in unassignable] == [5]
    editable = await alice.autocomplete("shot edit", "shot")
    assert [c["value"] for c in editable] == ["5.1", "5.2", "5.3", "5.4", "5.5"]
    typed = await stage.fake.as_user(stage.pat).autocomplete("shot info", "shot", "3.")
    assert all(c["value"].startswith("3.") for c in typed) and len(typed) == 5
    await alice.slash("chapter claim", chapter=6)  # at the limit of 2: nothing to offer
    assert await alice.autocomplete("chapter claim", "chapter") == []


def big_shot_list(chapters: int) -> bytes:
    lines = ["chapter,chapter_title,shot,description,duration"]
    for n in range(1, chapters + 1):
        title = f"A rather long chapter title for number {n} " + "x" * 40
        lines += [f"{n},{title},{s},Shot {s} of chapter {n},3" for s in (1, 2)]
    return ("\n".join(lines) + "\n").encode()


async def test_sixty_chapter_board_pages_within_limits_and_survives_restart(
        stage: Stage) -> None:
    pat = stage.fake.as_user(stage.pat)
    imported = await pat.slash("shot import", file=Attachment("big.csv", big_shot_list(60)))
    assert "52 new chapters" in imported.content
    for n in range(1, 61, 2):
        await stage.fake.as_user(stage.pat).slash("chapter assign", chapter=n,
                                                  member=stage.fake.add_user(f"Creator {n}"))
    offered = await pat.autocomplete("chapter assign", "chapter")
    assert len(offered) == 25 and offered[0]["value"] == 1
    board = await stage.fake.as_user(stage.bob).slash("production status")
    assert "page 1/4" in board.text and "**1. " in board.text and "**16. " not in board.text
    assert board.button("◀ Previous")["disabled"]
    bob = stage.fake.as_user(stage.bob)
    page2 = await bob.click(board, "Next ▶")
    assert page2.message_id == board.message_id  # the board message itself turns the page
    assert "page 2/4" in page2.text and "**16. " in page2.text
    await stage.slate.restart()
    page3 = await bob.click(page2, "Next ▶")
    assert "page 3/4" in page3.text and "**31. " in page3.text
    page4 = await bob.click(page3, "Next ▶")
    assert "page 4/4" in page4.text and page4.button("Next ▶")["disabled"]
    back = await bob.click(page4, "◀ Previous")
    assert "page 3/4" in back.text


async def test_shot_import_refuses_bad_file_and_changes_nothing(stage: Stage) -> None:
    pat = stage.fake.as_user(stage.pat)
    bad = b"chapter,shot,description,duration\n1,1,ok,2\n1,2,too long,9999\n9,1,new,2\n"
    reply = await pat.slash("shot import", file=Attachment("bad.csv", bad))
    assert reply.ephemeral
    assert reply.content.startswith("line 3, field 'duration'")
    prod = await production_board.get(stage.studio.db, stage.fake.guild_id)
    assert len(await production_board.board(stage.studio.db, prod)) == 8


async def test_owner_adds_and_edits_shots_others_cannot(stage: Stage) -> None:
    alice, bob = stage.fake.as_user(stage.alice), stage.fake.as_user(stage.bob)
    await alice.slash("chapter claim", chapter=6)
    added = await alice.slash("shot add", chapter=6, description="Gulls over the pier",
                              duration=2.5, characters="Mara; Tom")
    assert "shot 6.6 added" in added.content and "Mara, Tom" in added.text
    edited = await alice.slash("shot edit", shot="6.6", status="wip", duration=3)
    assert "shot 6.6 updated" in edited.content and "3s" in edited.text
    refused = await bob.slash("shot edit", shot="6.6", description="mine now")
    assert refused.ephemeral and "owner or a Producer" in refused.content
    info = await bob.slash("shot info", shot="6.6")
    assert "Gulls over the pier" in info.text and "wip" in info.text
    listing = await bob.slash("shot list", chapter=6)
    assert "`6.6`" in listing.text
    detail = await bob.slash("chapter info", chapter=6)
    assert f"<@{stage.alice.id}>" in detail.text and "(0/6 approved)" in detail.text
    mine = await alice.slash("chapter list")
    assert mine.ephemeral and "Yours (1)" in mine.text


async def test_slow_work_is_deferred_then_answered(stage: Stage) -> None:
    # A long write elsewhere holds the database: the claim must defer, then answer.
    async with stage.studio.db.transaction():
        claim = asyncio.create_task(stage.fake.as_user(stage.alice).slash("chapter claim",
                                                                          chapter=7))
        await asyncio.sleep(2.2)
    reply = await claim
    assert "now holds chapter 7" in reply.content
    interaction = next(i for i in stage.fake.interactions.values() if i.type == 2
                       and i.user is stage.alice)
    assert interaction.response_type == 5 and interaction.answered_after < 3


async def test_refusal_after_a_public_defer_stays_private(stage: Stage) -> None:
    await stage.fake.as_user(stage.alice).slash("chapter claim", chapter=7)
    async with stage.studio.db.transaction():
        claim = asyncio.create_task(stage.fake.as_user(stage.bob).slash("chapter claim",
                                                                        chapter=7))
        await asyncio.sleep(2.2)
    reply = await claim
    assert reply.ephemeral and "already claimed by Alice" in reply.content
    thinking = [m for m in stage.fake.messages.values()
                if m.get("interaction_metadata", {}).get("user", {}).get("id")
                == str(stage.bob.id) and not m["flags"] & 64]
    assert thinking == []  # the public "thinking…" was removed, not left behind


async def test_unexpected_error_gives_a_reference_logged_with_traceback(
        stage: Stage, caplog: pytest.LogCaptureFixture) -> None:
    await stage.studio.db.close()  # the database goes away under the bot
    with caplog.at_level(logging.ERROR, logger="slate.cogs"):
        reply = await stage.fake.as_user(stage.alice).slash("chapter claim", chapter=1)
    assert reply.ephemeral
    # The reference is the interaction's id: the one every log line of it is tagged with.
    match = re.fullmatch(r"something went wrong \(ref (\d+)\)", reply.content)
    assert match
    assert int(match.group(1)) == max(stage.fake.interactions)
    logged = [r for r in caplog.records if match.group(1) in r.getMessage()]
    assert logged and logged[0].exc_info is not None


async def test_gateway_drop_then_resume_replays_missed_interaction(stage: Stage) -> None:
    fake = stage.fake
    await fake.drop_connections()
    # Sent while the bot is disconnected: it arrives in the RESUME replay.
    reply = await fake.as_user(stage.alice).slash("chapter claim", chapter=8)
    assert "now holds chapter 8" in reply.content
    assert fake.resumes == 1 and fake.identifies == 1
    await fake.force_reconnect()
    # The bot has reconnected once its RESUME reached the fake on the new socket.
    await eventually(lambda: fake.resumes == 2 and fake.live_sessions(), 10)
    reply = await fake.as_user(stage.bob).slash("chapter info", chapter=8)
    assert "Chapter 8" in reply.text
    assert fake.resumes == 2 and fake.identifies == 1


async def test_setup_offers_only_text_channels_for_the_board(stage: Stage) -> None:
    voice = stage.fake.add_channel("Stage Door", type=2)
    with pytest.raises(Rejected, match="only offers channels of types"):
        await stage.fake.as_user(stage.fake.owner).slash(
            "production setup", title="Low Tide", producer_role=stage.producer_role,
            board_channel=voice)
    prod = await production_board.get(stage.studio.db, stage.fake.guild_id)
    assert prod.board_channel_id == stage.board.id


async def test_options_out_of_their_bounds_never_reach_the_bot(stage: Stage) -> None:
    pat = stage.fake.as_user(stage.pat)
    with pytest.raises(Rejected, match=r"'duration' is at least 0\.1"):
        await pat.slash("shot edit", shot="1.1", duration=0.05)
    with pytest.raises(Rejected, match="'shot' is at least 3 long"):
        await pat.slash("shot info", shot="1")
    with pytest.raises(Rejected, match="'max_chapters' is at most 100"):
        await stage.fake.as_user(stage.fake.owner).slash(
            "production setup", title="Low Tide", producer_role=stage.producer_role,
            max_chapters=101)
    assert (await shots.shot(stage.studio.db, await production_board.get(
        stage.studio.db, stage.fake.guild_id), "1.1")).shot.planned_duration > 0.1


async def test_an_answer_after_the_tokens_15_minutes_still_reaches_its_user(
        stage: Stage) -> None:
    fake = stage.fake
    fake.expect_trouble = True  # the expired token's 401 is what this test provokes
    alice, owner = fake.as_user(stage.alice), fake.as_user(fake.owner)
    fake.dms_closed.add(stage.bob.id)
    bob = fake.as_user(stage.bob)
    await alice.slash("chapter claim", chapter=6)
    async with stage.studio.db.transaction():  # the work outlives the token
        tasks = [asyncio.create_task(alice.slash("chapter claim", chapter=7)),
                 asyncio.create_task(owner.slash("production setup", title="Low Tide",
                                                 producer_role=stage.producer_role)),
                 asyncio.create_task(bob.slash("chapter release", chapter=6))]
        await asyncio.sleep(2.5)
        fake.advance(15 * 60 + 1)

    def said(channel_id: int) -> list[str]:
        return [m.get("content") or "" for m in fake.messages.values()
                if int(m["channel_id"]) == channel_id]

    for _ in range(500):  # until all three answers are in (a loaded machine is slow)
        dms = [c for c in fake.channels.values() if c.type == 1 and said(c.id)]
        told = said(alice.channel.id)
        if len(told) >= 3 and dms and any(t.startswith(f"<@{stage.bob.id}>") for t in told):
            break
        await asyncio.sleep(0.02)
    for task in tasks:  # the users' own windows never hear back: the token is dead
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    public = said(alice.channel.id)
    assert any(t.startswith(f"<@{stage.alice.id}>, your /chapter claim finished:")
               and "now holds chapter 7" in t for t in public), public
    (dm,) = [c for c in fake.channels.values()
             if c.type == 1 and int(c.recipient["id"]) == fake.owner.id]
    assert any("/production setup finished" in t and "is set up" in t for t in said(dm.id))
    # Bob's refusal was private and his DMs are closed: the channel says only where to look.
    told_bob = [t for t in public if t.startswith(f"<@{stage.bob.id}>")]
    assert told_bob and "allow direct messages" in told_bob[0]
    assert "held by" not in told_bob[0]


async def test_a_changed_guild_setting_leaves_no_stale_copy_of_the_commands(stage: Stage) -> None:
    fake = stage.fake
    await stage.slate.stop()
    # DISCORD_GUILD_ID unset: the commands go global and the guild's copy is emptied.
    runner = SlateRunner(fake, stage.slate.settings.model_copy(update={"discord_guild_id": None}))
    await runner.start()
    try:
        assert {c["name"] for c in fake.commands[None]} >= {"production", "chapter"}
        assert fake.commands[fake.guild_id] == []
    finally:
        await runner.stop()
    # Set again: the guild has its commands back and the global copy is emptied.
    await stage.slate.start()
    assert {c["name"] for c in fake.commands[fake.guild_id]} >= {"production", "chapter"}
    assert fake.commands[None] == []
    syncs = fake.command_syncs
    await stage.slate.restart()
    assert fake.command_syncs == syncs  # nothing stale left: a restart syncs nothing
