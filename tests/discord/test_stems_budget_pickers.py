"""/stem upload, /budget and the chapter and shot pickers (cogs/pick.py), end to end: the real
discord.py client against the fake Discord, asserting what the member sees."""

from __future__ import annotations

from pathlib import Path

from storage import jobs
from studio.generation.takes import stems_of
from studio.production import board
from tests import media_kit
from tests.fakes.discord import Attachment, FakeDiscord
from tests.fakes.discord.fixtures import SlateRunner, Stage
from tests.generation.helpers import job_in


def attached(path: Path, name: str | None = None) -> Attachment:
    return Attachment(name or path.name, path.read_bytes())


async def test_stem_upload_stores_the_chapters_stem_for_its_owner_only(
        stage: Stage, tmp_path: Path) -> None:
    alice, bob = stage.fake.as_user(stage.alice), stage.fake.as_user(stage.bob)
    await alice.slash("chapter claim", chapter=2)
    voice = media_kit.tone(tmp_path / "voice.wav", seconds=1)

    reply = await alice.slash("stem upload", chapter=2, kind="vo",
                              file=attached(voice, "旁白 第二章.wav"))
    assert not reply.ephemeral
    assert reply.content == "chapter 2's vo stem is now `旁白 第二章.wav`"
    prod = await board.get(stage.studio.db, stage.fake.guild_id)
    [stem] = await stems_of(stage.studio, prod, 2)
    assert stem.kind == "vo"

    refused = await bob.slash("stem upload", chapter=2, kind="music", file=attached(voice))
    assert refused.ephemeral and "only chapter 2's owner" in (refused.content or "")
    clip = media_kit.video(tmp_path / "clip.mp4", seconds=1, size="160x90")
    wrong = await alice.slash("stem upload", chapter=2, kind="sfx", file=attached(clip))
    assert wrong.ephemeral and wrong.content == "the file is video; expected audio"
    assert [s.id for s in await stems_of(stage.studio, prod, 2)] == [stem.id]  # nothing changed

    # A new VO replaces the chapter's VO: one stem of each kind is used by the cut.
    again = await alice.slash("stem upload", chapter=2, kind="vo",
                              file=attached(media_kit.tone(tmp_path / "v2.wav", seconds=2)))
    assert again.content == "chapter 2's vo stem is now `v2.wav`"
    [now] = await stems_of(stage.studio, prod, 2)
    assert now.kind == "vo" and now.id != stem.id


async def test_budget_shows_the_spend_by_member_and_provider(stage: Stage) -> None:
    creator = stage.fake.add_user("林小雨")
    as_creator = stage.fake.as_user(creator)
    empty = await stage.fake.as_user(stage.bob).slash("budget")
    assert empty.ephemeral and empty.content == "spent $0.00 on generation"

    stage.studio.settings = stage.studio.settings.model_copy(
        update={"generation_budget": 2.5})
    await as_creator.slash("chapter claim", chapter=3)
    made = await as_creator.slash("generate", kind="image", shot="3.1", prompt="海鸥")
    assert "image for shot 3.1 on animatic" in (made.content or "")
    prod = await board.get(stage.studio.db, stage.fake.guild_id)
    [job] = await jobs.listed(stage.studio.db.reader, prod.id)
    assert (await job_in(stage.studio, job.id, "succeeded", "failed")).state == "succeeded"

    shown = await stage.fake.as_user(stage.bob).slash("budget")
    assert shown.ephemeral
    assert (shown.content or "").splitlines() == ["spent $0.00 of $2.50 on generation",
                                                  "林小雨 · animatic: 1 jobs, $0.00"]


async def test_pickers_offer_names_the_user_reads_and_match_what_they_type(
        stage: Stage) -> None:
    alice, pat = stage.fake.as_user(stage.alice), stage.fake.as_user(stage.pat)
    await alice.slash("chapter claim", chapter=3)

    releasable = await alice.autocomplete("chapter release", "chapter")
    assert releasable == [{"name": "3. The Village — Alice", "value": 3}]
    # Typing part of a title, in any case, narrows the chapters; the owner shows beside it.
    assert await pat.autocomplete("chapter info", "chapter", "VILL") == releasable
    # Due dates are the producers': a creator is offered nothing, a producer every chapter.
    assert await alice.autocomplete("schedule due", "chapter") == []
    assert [c["value"] for c in await pat.autocomplete("schedule due", "chapter")] == \
        list(range(1, 9))

    # Shots: at most 25 choices (Discord's limit), each its code and description.
    every = await pat.autocomplete("shot info", "shot")
    assert len(every) == 25 and every[0]["value"] == "1.1"
    assert every[0]["name"].startswith("1.1 Wide of an empty tidal flat")
    assert all(len(c["name"]) <= 100 for c in every)
    # A vote is opened on a shot one may edit: Alice's chapter's shots only.
    mine = await alice.autocomplete("vote open", "shot")
    assert [c["value"] for c in mine] == ["3.1", "3.2", "3.3", "3.4", "3.5"]


async def test_pickers_match_chinese_titles_and_offer_nothing_before_setup(
        discord_fake: FakeDiscord, slate: SlateRunner) -> None:
    fake = discord_fake
    owner = fake.as_user(fake.owner)
    # Before any production is set up: no choices (the command itself would say why).
    assert await owner.autocomplete("chapter claim", "chapter") == []
    role = fake.add_role("Producer")
    await owner.slash("production setup", title="潮汐", producer_role=role)
    shot_list = ("chapter,chapter_title,shot,description,duration\n"
                 "1,黎明,1,海鸥飞过码头,2\n1,黎明,2,Pell 的脚印,2\n2,风暴,1,乌云压境,2\n")
    imported = await owner.slash("shot import",
                                 file=Attachment("镜头.csv", shot_list.encode()))
    assert "2 new chapters" in (imported.content or ""), imported.content
    assert await owner.autocomplete("chapter info", "chapter", "风暴") == \
        [{"name": "2. 风暴", "value": 2}]
    assert await owner.autocomplete("shot info", "shot", "海鸥") == \
        [{"name": "1.1 海鸥飞过码头", "value": "1.1"}]
