"""Votes: 10,000 raw reaction events from 500 members over 200 takes, through the fake gateway.

The real bot (discord.py + the review cog + SQLite) runs against the loopback fake Discord.
Members add, remove and switch 👍/👎 reactions at random; the figure is events per second from
the first event until every stored tally equals what the fake's own reaction lists show (the
bot's removals of switched reactions included). The floor is the same number of events through
the same fake gateway into the same discord.py client with a listener that only counts them:
what receiving and parsing the events costs before any vote is stored.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage import media_files, takes, votes
from storage.takes import Provenance
from studio.ops.settings import load_settings
from studio.production import board, shotlist
from studio.production.people import actor
from studio.review import windows
from studio.review.ballots import VOTE_AGAINST, VOTE_FOR
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord.fixtures import EXAMPLES, SlateRunner

EVENTS = 10_000
MEMBERS = 500
TAKES = 200
TIMEOUT_S = 300


async def set_up(runner: SlateRunner, fake: FakeDiscord) -> dict[int, int]:
    """A production with 200 candidate takes (5 on each of 40 shots) under vote; take → message."""
    studio = runner.studio
    assert studio is not None
    takes_channel = fake.add_channel("takes")
    prod = await board.setup(studio.db, fake.guild_id, "Bench",
                                  takes_channel_id=takes_channel.id)
    boss = await actor(studio.db, prod, "Boss", discord_id=1, is_producer=True)
    await shotlist.import_shots(studio.db, prod, boss, (EXAMPLES / "low_tide.csv").read_bytes(),
                                "low_tide.csv")
    refs = [r for r in await production_shots(studio, prod)][: TAKES // 5]
    async with studio.db.transaction() as tx:
        for n, ref in enumerate(refs):
            for k in range(5):
                sha = f"{n * 5 + k:064x}"
                await media_files.ensure(tx, sha, kind="image", container="png", size=1,
                                         duration=None, width=1, height=1, fps=None,
                                         video_codec=None, audio_codec=None, has_audio=False,
                                         original_name="x.png")
                await takes.create(tx, ref.shot.id, source="uploaded", media_sha256=sha,
                                   kind="image", creator_id=boss.id, provenance=Provenance())
    posted: dict[int, int] = {}
    for ref in refs:
        status = await windows.open_vote(studio.db, prod, boss, ref.code, 24)
        assert status.window is not None
        for take in status.unposted:
            message = fake._store_message(takes_channel.id, fake.bot_user,
                                          {"content": f"take {take.id}"}, [])
            await windows.record_posted(studio.db, status.window.id, take.id, takes_channel.id,
                                       int(message["id"]))
            posted[take.id] = int(message["id"])
    return posted


async def production_shots(studio, prod):
    from storage import shots
    return await shots.of_production(studio.db.reader, prod.id)


def ground_truth(fake: FakeDiscord, posted: dict[int, int]) -> dict[int, tuple[int, int]] | None:
    """Per take, (for, against) as Discord shows it; None while someone still shows both."""
    found = {}
    for take_id, message_id in posted.items():
        lists = fake.reactions.get(message_id, {})
        up = set(lists.get(VOTE_FOR, [])) - {fake.bot_user.id}
        down = set(lists.get(VOTE_AGAINST, [])) - {fake.bot_user.id}
        if up & down:
            return None
        found[take_id] = (len(up), len(down))
    return found


async def stored(runner: SlateRunner, posted: dict[int, int]) -> dict[int, tuple[int, int]]:
    assert runner.studio is not None
    found = await votes.tallies(runner.studio.db.reader, list(posted), creator_counts=True)
    return {t: (int(found[t].votes_for), int(found[t].votes_against)) for t in posted}


async def drive(fake: FakeDiscord, people, messages: list[int], rng: random.Random) -> None:
    """EVENTS user actions; each is one gateway event (a reaction added or removed)."""
    for _ in range(EVENTS):
        person = rng.choice(people)
        message_id = rng.choice(messages)
        emoji = VOTE_FOR if rng.random() < 0.6 else VOTE_AGAINST
        who = fake.as_user(person)
        if person.id in fake.reactions.get(message_id, {}).get(emoji, []):
            await who.unreact(message_id, emoji)
        else:
            await who.react(message_id, emoji)


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # no developer .env
        fake = FakeDiscord(heartbeat_ms=20_000)
        await fake.start()
        settings = load_settings(data_dir=Path(tmp) / "data", discord_guild_id=fake.guild_id,
                                 log_level="WARNING")
        runner = SlateRunner(fake, settings)
        await runner.start()
        try:
            posted = await set_up(runner, fake)
            people = [fake.add_user(f"member{n}") for n in range(MEMBERS)]
            messages = list(posted.values())

            start = time.perf_counter()
            await drive(fake, people, messages, random.Random(1))
            sent_s = time.perf_counter() - start
            while True:
                truth = ground_truth(fake, posted)
                if truth is not None and truth == await stored(runner, posted):
                    break
                if time.perf_counter() - start > TIMEOUT_S:
                    raise SystemExit("the stored tallies never matched Discord's")
                await asyncio.sleep(0.01)
            ours_s = time.perf_counter() - start
            removed = sum(1 for c in fake.calls if c.method == "DELETE" and "/reactions/" in c.path)

            # The floor: the same kind of events into the same client, counted and nothing more.
            bot = runner.bot
            assert bot is not None
            await bot.remove_cog("ReviewCog")
            seen = 0
            done = asyncio.Event()

            async def count(_payload) -> None:
                nonlocal seen
                seen += 1
                if seen >= EVENTS:
                    done.set()
            bot.add_listener(count, "on_raw_reaction_add")
            bot.add_listener(count, "on_raw_reaction_remove")
            start = time.perf_counter()
            await drive(fake, people, messages, random.Random(2))
            await asyncio.wait_for(done.wait(), TIMEOUT_S)
            floor_s = time.perf_counter() - start
        finally:
            await runner.stop()
            await fake.close()

    figure = EVENTS / ours_s
    floor = EVENTS / floor_s
    print(f"{EVENTS} reaction events, {MEMBERS} members, {TAKES} takes; bot removed "
          f"{removed} switched reactions")
    print(f"events handed to the gateway in {sent_s:.2f} s")
    print(f"stored and tallied: {figure:,.0f} events/s ({ours_s:.2f} s until every tally "
          f"matched the fake's reaction lists: {len(posted)}/{len(posted)} takes exact)")
    print(f"floor (gateway + discord.py parse, counting only): {floor:,.0f} events/s")
    print(f"ratio ours/floor: {figure / floor:.2f}")
    print(json.dumps({"bench": "votes", "figure": round(figure, 1), "floor": round(floor, 1),
                      "ratio": round(figure / floor, 3), "unit": "events/s"}))


if __name__ == "__main__":
    asyncio.run(main())
