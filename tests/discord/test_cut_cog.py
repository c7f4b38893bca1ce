"""/cut now|latest|status and the missed nightly build, end to end through the fake Discord."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from storage import cuts, shots
from studio.app import Studio
from studio.cut import layout
from studio.generation import takes
from studio.generation.standin import make_standin_take
from studio.ops import screening_links
from studio.ops.settings import Settings, load_settings
from studio.production import board, shotlist
from studio.production.people import actor
from tests.fakes.discord.fixtures import SlateRunner
from tests.fakes.discord.server import Channel, FakeDiscord, Reply, User, eventually

SHOT_LIST = b"""chapter,chapter_title,shot,description,duration
1,Dawn,1,Wide of the flats,1
1,Dawn,2,Pell's tracks,1
2,Storm,1,Clouds roll in,1
"""


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.chdir(tmp_path)
    return load_settings(data_dir=tmp_path / "data", cut_width=160, cut_height=90,
                         cut_credits_seconds=0.5)


class Crew:
    def __init__(self, fake: FakeDiscord, pat: User, alice: User, cuts: Channel) -> None:
        self.fake, self.pat, self.alice, self.cuts = fake, pat, alice, cuts

    def posts(self) -> list[Reply]:
        return [self.fake.reply_of(m) for m in self.fake.messages.values()
                if int(m["channel_id"]) == self.cuts.id]


@pytest.fixture
async def crew(discord_fake: FakeDiscord, slate: SlateRunner) -> Crew:
    fake = discord_fake
    role = fake.add_role("Producer")
    pat, alice = fake.add_user("Pat", role), fake.add_user("Alice")
    cuts_channel = fake.add_channel("cuts")
    done = await fake.as_user(fake.owner).slash("production setup", title="Low Tide",
                                                producer_role=role, cuts_channel=cuts_channel)
    assert "is set up" in (done.content or "")
    assert slate.studio is not None
    prod = await board.get(slate.studio.db, fake.guild_id)
    who = await actor(slate.studio.db, prod, "fixture", is_producer=True)
    await shotlist.import_shots(slate.studio.db, prod, who, SHOT_LIST, "shots.csv")
    return Crew(fake, pat, alice, cuts_channel)


async def finished(crew: Crew, reply: Reply) -> Reply:
    """The /cut now answer once the build is over: the first edit the user sees may be its
    progress ("building cut 1: mixing 0%"), so wait (generously: a busy machine builds slowly)
    until the message shows something else."""
    def shown() -> str:
        return crew.fake.messages[reply.message_id or 0].get("content") or ""

    await eventually(lambda: shown() and not shown().startswith("building"), within=120)
    return crew.fake.reply_of(crew.fake.messages[reply.message_id or 0])


async def test_cut_now_builds_posts_and_reports(crew: Crew, slate: SlateRunner,
                                               tmp_path: Path) -> None:
    refused = await crew.fake.as_user(crew.alice).slash("cut now")
    assert refused.ephemeral and refused.content == "building a cut needs the Producer role"
    none = await crew.fake.as_user(crew.alice).slash("cut handoff")
    assert none.ephemeral and none.content == "no cut has been published yet"
    assert slate.studio is not None
    prod = await board.get(slate.studio.db, crew.fake.guild_id)
    pat = await actor(slate.studio.db, prod, "Pat", is_producer=True)
    stored = await takes.add_take(slate.studio, prod, pat, "1.2",
                                  make_standin_take(tmp_path / "t.mp4", "1.2"))
    async with slate.studio.db.transaction() as tx:
        await shots.update(tx, stored.take.shot_id, approved_take_id=stored.take.id,
                           status="approved")

    reply = await crew.fake.as_user(crew.pat).slash("cut now")

    final = await finished(crew, reply)
    assert "cut 1 is published" in (final.content or "")
    assert f"<#{crew.cuts.id}>" in (final.content or "")
    [post] = crew.posts()
    assert "1/3 shots approved (33%)" in (post.content or "")
    assert [a["filename"] for a in post.attachments] == ["cut-0001.mp4"]
    # The post links to the screening page too, with a link the web face accepts.
    posted = re.search(r"▶ screening room: (http://127\.0\.0\.1:8080/cuts/1\?t=(\S+))",
                       post.content or "")
    assert posted, post.content
    assert screening_links.check(slate.settings, posted.group(2)).production_id == prod.id
    latest = await crew.fake.as_user(crew.alice).slash("cut latest")
    assert latest.ephemeral and "Cut 1" in latest.text and "1/3" in latest.text
    fresh = re.search(r"\[screening room\]\((http://\S+/cuts/1\?t=([^)\s]+))\)", latest.text)
    assert fresh, latest.text
    assert screening_links.check(slate.settings, fresh.group(2)).production_id == prod.id
    assert "Runtime 0:03.5" in latest.text  # three one-second shots, half a second of credits
    status = await crew.fake.as_user(crew.alice).slash("cut status")
    assert "no cut is being built" in (status.content or "")
    assert "latest: cut 1 (1/3 shots approved, 0:03.5)" in (status.content or "")
    assert "next nightly cut" in (status.content or "")
    # The editor's hand-off: where it is on the server (a link once SLATE_PUBLIC_URL is set).
    given = await crew.fake.as_user(crew.alice).slash("cut handoff")
    folder = layout.cut_dir(slate.settings, prod.id, 1) / "handoff"
    assert given.ephemeral and "cut 1's hand-off" in (given.content or "")
    assert f"on the server at `{folder}`" in (given.content or "")
    assert (folder / "cut.xml").is_file()


async def down_last_night(slate: SlateRunner) -> None:
    """Stop the bot and make its production older than last night's cut time: the bot was
    down when that cut was due."""
    await slate.stop()
    studio = await Studio.open(slate.settings)
    async with studio.db.transaction() as tx:
        # Test set-up only: no studio operation back-dates a production.
        await tx.execute("UPDATE production SET created_at = '2020-01-01T00:00:00.000Z'")
    await studio.close()


async def first_post(crew: Crew) -> Reply:
    for _ in range(200):
        if crew.posts():
            break
        await asyncio.sleep(0.1)
    [post] = crew.posts()
    return post


async def test_a_night_missed_while_down_is_built_at_startup(crew: Crew,
                                                             slate: SlateRunner) -> None:
    assert slate.studio is not None
    assert crew.posts() == []  # set up after the last nightly time: nothing missed
    await down_last_night(slate)
    await slate.start()
    post = await first_post(crew)
    assert "cut 1" in (post.content or "") and "0/3 shots approved" in (post.content or "")
    prod = await board.get(slate.studio.db, crew.fake.guild_id)
    built = await cuts.latest(slate.studio.db.reader, prod.id)
    assert built is not None and built.trigger == "nightly"


async def test_a_failed_nightly_cut_says_why_without_paths(crew: Crew,
                                                           slate: SlateRunner) -> None:
    assert slate.studio is not None
    prod = await board.get(slate.studio.db, crew.fake.guild_id)
    await down_last_night(slate)
    # A stray file stands where the build stages its folder (a restore gone wrong).
    stray = layout.staging_dir(slate.settings, prod.id, 1)
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_text("not a folder")
    await slate.start()
    text = (await first_post(crew)).content or ""
    said = "the nightly cut failed: cut 1 failed: File exists (.building-0001)"
    assert text.startswith(said), text
    assert "the last cut stands" in text and "(ref " in text
    assert str(slate.settings.data_dir) not in text and "/" not in text


async def test_a_broken_take_becomes_a_slate_and_its_owner_is_told(
        crew: Crew, slate: SlateRunner, tmp_path: Path) -> None:
    from studio import mediastore

    claimed = await crew.fake.as_user(crew.alice).slash("chapter claim", chapter=1)
    assert "now holds chapter 1" in (claimed.content or "")
    assert slate.studio is not None
    studio = slate.studio
    prod = await board.get(studio.db, crew.fake.guild_id)
    alice = await actor(studio.db, prod, "Alice", discord_id=crew.alice.id)
    stored = await takes.add_take(studio, prod, alice, "1.1",
                                  make_standin_take(tmp_path / "t.mp4", "1.1"))
    async with studio.db.transaction() as tx:
        await shots.update(tx, stored.take.shot_id, approved_take_id=stored.take.id,
                           status="approved")
    # The stored file is damaged after upload (a bad disk): the cut must survive it.
    kept = mediastore.path_for(studio.settings.media_path, stored.media.sha256)
    kept.write_bytes(kept.read_bytes()[:100])

    reply = await crew.fake.as_user(crew.pat).slash("cut now")

    final = await finished(crew, reply)
    assert "cut 1 is published" in (final.content or "")
    [post] = crew.posts()
    assert f"<@{crew.alice.id}>" in (post.content or "")
    assert "shot 1.1: take" in (post.content or "") and "broke the cut" in (post.content or "")
    assert "0/3 shots approved" in (post.content or "")


async def test_a_film_too_big_to_attach_is_linked_to_the_screening_room(
        crew: Crew, slate: SlateRunner, tmp_path: Path) -> None:
    assert slate.studio is not None
    # Nothing fits in 1 KiB: neither the film nor a smaller preview can be attached.
    slate.studio.settings = slate.studio.settings.model_copy(
        update={"cut_preview_max_bytes": 1024})
    reply = await crew.fake.as_user(crew.pat).slash("cut now")
    assert "cut 1 is published" in (crew.fake.reply_of(
        crew.fake.messages[reply.message_id or 0]).content or "")
    [post] = crew.posts()
    assert post.attachments == []
    too_big = re.search(r"\(the film is too large to post here; it is "
                        r"(http://127\.0\.0\.1:8080/cuts/1\?t=(\S+))\)", post.content or "")
    assert too_big, post.content
    assert screening_links.check(slate.settings, too_big.group(2)).production_id
    latest = await crew.fake.as_user(crew.alice).slash("cut latest")
    assert "(too large to attach here)" in latest.text and "/cuts/1?t=" in latest.text
