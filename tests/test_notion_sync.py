"""The Notion sync against the loopback fake: set-up, pushes, pulls, ownership, limits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage import chapters, notion_rows, shots
from storage.productions import Production
from studio.app import Studio
from studio.errors import InvalidInput, NotPermitted, SlateError
from studio.notion.mapping import CHAPTER_FIELDS, SHOT_FIELDS
from studio.notion.sync import NotionService
from studio.production import schedule
from studio.production import shots as production_shots
from studio.production.people import Actor, actor
from tests.fakes.notion.server import FakeNotion
from tests.notion_support import make_production, service_for


@pytest.fixture
def fake(notion_fake: FakeNotion) -> FakeNotion:
    return notion_fake


@pytest.fixture
async def notion(studio: Studio, fake: FakeNotion) -> AsyncIterator[NotionService]:
    service = service_for(studio.db, studio.settings, fake)
    service.api.backoff_s = 0.01
    try:
        yield service
    finally:
        await service.close()


async def connected(notion: NotionService, fake: FakeNotion, prod: Production,
                    producer: Actor) -> notion_rows.NotionLink:
    await notion.connect(prod, producer, parent=fake.add_parent_page())
    link = await notion_rows.link(notion.db.reader, prod.id)
    assert link is not None
    return link


def one_page_per_row(fake: FakeNotion, link: notion_rows.NotionLink, keys: list[str]) -> None:
    pages = fake.rows(link.chapters_data_source_id) + fake.rows(link.shots_data_source_id)
    seen = sorted(fake.text(p, "Key") for p in pages)
    assert seen == sorted(keys)


def expected_keys(n_chapters: int, n_shots: int) -> list[str]:
    return ([f"chapter {c}" for c in range(1, n_chapters + 1)]
            + [f"shot {c}.{s}" for c in range(1, n_chapters + 1) for s in range(1, n_shots + 1)])


def page(fake: FakeNotion, link: notion_rows.NotionLink, key: str) -> dict:
    source = link.shots_data_source_id if key.startswith("shot") else \
        link.chapters_data_source_id
    (found,) = fake.row_by_key(source, key)
    return found


# --- connect --------------------------------------------------------------------------------

async def test_connect_creates_both_databases_with_the_schema(
    studio: Studio, prod: Production, producer: Actor, fake: FakeNotion, notion: NotionService,
) -> None:
    link = await connected(notion, fake, prod, producer)
    chapters_schema = fake.data_sources[link.chapters_data_source_id]["properties"]
    shots_schema = fake.data_sources[link.shots_data_source_id]["properties"]
    assert {f.prop for f in CHAPTER_FIELDS} <= set(chapters_schema)
    assert {f.prop for f in SHOT_FIELDS} <= set(shots_schema)
    assert shots_schema["Chapter"]["relation"]["data_source_id"] == \
        link.chapters_data_source_id
    assert shots_schema["Due"]["type"] == "date"
    # Connecting again to the same page makes no second pair of databases.
    await notion.connect(prod, producer, parent=link.parent_page_id)
    assert len(fake.databases) == 2


async def test_connect_to_existing_databases_reports_what_they_lack(
    studio: Studio, prod: Production, producer: Actor, fake: FakeNotion, notion: NotionService,
) -> None:
    parent = fake.add_parent_page()
    fake.storm(0)
    made = fake._create_database({
        "parent": {"type": "page_id", "page_id": parent},
        "title": [{"text": {"content": "Our chapters"}}],
        "initial_data_source": {"properties": {"Chapter name": {"title": {}},
                                               "Key": {"rich_text": {}},
                                               "Status": {"rich_text": {}}}}})
    chapters_ds = made["data_sources"][0]["id"]
    shots_db = fake._create_database({
        "parent": {"type": "page_id", "page_id": parent},
        "title": [{"text": {"content": "Our shots"}}],
        "initial_data_source": {"properties": {"Name": {"title": {}}}}})
    url = f"https://www.notion.so/team/Our-chapters-{made['id'].replace('-', '')}?v=1"
    with pytest.raises(InvalidInput) as refused:
        await notion.connect(prod, producer, chapters=url, shots=shots_db["id"])
    assert "Status is a rich_text column, not select" in refused.value.reason
    # Fix the wrong column by hand; then the missing ones can be added for the producer.
    del fake.data_sources[chapters_ds]["properties"]["Status"]
    with pytest.raises(InvalidInput) as refused:
        await notion.connect(prod, producer, chapters=url, shots=shots_db["id"])
    assert "lacks" in refused.value.reason and "Due (date)" in refused.value.reason
    assert await notion_rows.link(studio.db.reader, prod.id) is None
    result = await notion.connect(prod, producer, chapters=url, shots=shots_db["id"],
                                  add_missing=True)
    assert "Status" in result.added and "Chapter" in result.added
    link = await notion_rows.link(studio.db.reader, prod.id)
    assert link is not None and link.chapters_title == "Chapter name"
    await make_production(studio.db, prod, 2, 2)
    report = await notion.sync(prod, producer)
    assert len(report.created) == 6 and not report.failed
    first = page(fake, link, "chapter 1")
    assert fake.text(first, "Chapter name") == "Chapter 1"


async def test_connect_and_sync_need_a_producer_and_good_input(
    studio: Studio, prod: Production, producer: Actor, fake: FakeNotion, notion: NotionService,
) -> None:
    creator = await actor(studio.db, prod, "Maya", discord_id=11)
    with pytest.raises(NotPermitted):
        await notion.connect(prod, creator, parent=fake.add_parent_page())
    with pytest.raises(InvalidInput):
        await notion.connect(prod, producer, parent="not a url")
    with pytest.raises(InvalidInput):
        await notion.connect(prod, producer, parent=fake.add_parent_page(),
                             notion_owned=["shot.status"])
    assert fake.databases == {}
    await connected(notion, fake, prod, producer)
    with pytest.raises(NotPermitted):
        await notion.sync(prod, creator)


# --- push -----------------------------------------------------------------------------------

async def test_first_full_push_of_50_chapters_by_20_shots(
    studio: Studio, prod: Production, producer: Actor, fake: FakeNotion, notion: NotionService,
) -> None:
    await make_production(studio.db, prod, 50, 20)
    link = await connected(notion, fake, prod, producer)
    fake.reset_counts()
    report = await notion.sync(prod, producer)
    assert len(report.created) == 1050 and not report.failed and not report.updated
    assert fake.calls("POST", "/pages") == 1050
    assert fake.calls("PATCH") == 0
    one_page_per_row(fake, link, expected_keys(50, 20))
    shot = page(fake, link, "shot 7.3")
    chapter = page(fake, link, "chapter 7")
    assert shot["properties"]["Chapter"]["relation"] == [{"id": chapter["id"]}]
    assert fake.text(shot, "Description") == "Shot 7.3: the tide comes in"
    assert shot["properties"]["Planned duration"]["number"] == 2.0
    assert chapter["properties"]["Planned duration"]["number"] == 61.0


async def test_a_no_change_sync_only_reads(
    studio: Studio, prod: Production, producer: Actor, fake: FakeNotion, notion: NotionService,
) -> None:
    await make_production(studio.db, prod, 5, 4)
    await connected(notion, fake, prod, producer)
    await notion.sync(prod, producer)
    fake.reset_counts()
    report = await notion.sync(prod, producer)
    assert not report.changed and not report.failed
    assert fake.calls() == fake.calls("POST", "/query") == report.calls == 2


async def test_only_changed_rows_are_written(
    studio: Studio, prod: Production, producer: Actor, fake: FakeNotion, notion: NotionService,
) -> None:
    await make_production(studio.db, prod, 5, 4)
    link = await connected(notion, fake, prod, producer)
    await notion.sync(prod, producer)
    for code in ("1.1", "2.3", "5.4"):
        await production_shots.edit_shot(studio.db, prod, producer, code, status="wip")
    fake.reset_counts()
    report = await notion.sync(prod, producer)
    assert sorted(report.updated) == ["shot 1.1", "shot 2.3", "shot 5.4"]
    assert fake.calls("PATCH") == 3 and fake.calls("POST", "/pages") == 0
    assert page(fake, link, "shot 2.3")["properties"]["Status"]["select"]["name"] == "wip"


async def test_approvals_takes_and_votes_are_pushed(
    studio: Studio, prod: Production, producer: Actor, fake: FakeNotion, notion: NotionService,
) -> None:
    await make_production(studio.db, prod, 1, 2)
    link = await connected(notion, fake, prod, producer)
    ref = await production_shots.shot(studio.db, prod, "1.2")
    voters = [await actor(studio.db, prod, f"voter {i}", discord_id=100 + i) for i in range(3)]
    async with studio.db.transaction() as tx:
        sha = "ab" * 32
        await tx.execute("INSERT INTO media_file (sha256, kind, size, duration, created_at)"
                         " VALUES (?, 'video', 10, 4.5, 'now')", (sha,))
        cursor = await tx.execute(
            "INSERT INTO take (shot_id, revision, source, media_sha256, kind, provider,"
            " status, created_at) VALUES (?, 1, 'generated', ?, 'video', 'animatic',"
            " 'approved', 'now')", (ref.shot.id, sha))
        take_id = cursor.lastrowid
        for voter, value in zip(voters, (1, 1, -1), strict=True):
            await tx.execute("INSERT INTO vote (take_id, member_id, value, cast_at)"
                             " VALUES (?, ?, ?, 'now')", (take_id, voter.id, value))
        await shots.update(tx, ref.shot.id, approved_take_id=take_id, status="approved")
    await notion.sync(prod, producer)
    props = page(fake, link, "shot 1.2")["properties"]
    assert props["Votes"]["number"] == 1.0
    assert props["Takes"]["number"] == 1.0
    assert props["Actual duration"]["number"] == 4.5
    assert props["Approved take"]["rich_text"][0]["plain_text"] == "r1 · animatic"
    chapter = page(fake, link, "chapter 1")["properties"]
    assert chapter["Approved shots"]["number"] == 1.0


# --- pull and ownership ---------------------------------------------------------------------

async def test_edits_on_both_sides_resolve_by_ownership(
    studio: Studio, prod: Production, producer: Actor, fake: FakeNotion, notion: NotionService,
) -> None:
    await make_production(studio.db, prod, 3, 3)
    link = await connected(notion, fake, prod, producer)
    await notion.sync(prod, producer)
    shot_page = page(fake, link, "shot 2.2")
    chapter_page = page(fake, link, "chapter 2")
    # At once: Slate changes a shot's status; Notion edits that row's notes and due date, and
    # also (wrongly) its status, which Slate owns; Notion sets the chapter's priority.
    await production_shots.edit_shot(studio.db, prod, producer, "2.2", status="needs_review")
    fake.edit(shot_page["id"], {
        "Notes": {"rich_text": [{"text": {"content": "Make the water greener"}}]},
        "Due": {"date": {"start": "2026-12-24"}},
        "Status": {"select": {"name": "approved"}},
    })
    fake.edit(chapter_page["id"], {"Priority": {"select": {"name": "high"}},
                                   "Description": {"rich_text": [{"text": {"content": "x"}}]}})
    report = await notion.sync(prod, producer)
    assert not report.failed
    local = (await production_shots.shot(studio.db, prod, "2.2")).shot
    assert local.status == "needs_review"  # Slate owns status
    assert local.notes == "Make the water greener"  # Notion owns notes
    fresh = await shots.get(studio.db.reader, local.id)
    assert fresh is not None
    chapter = await chapters.by_number(studio.db.reader, prod.id, 2)
    assert chapter is not None and chapter.priority == "high"
    assert chapter.synopsis == "What happens in chapter 2."  # Slate owns the description
    after = page(fake, link, "shot 2.2")["properties"]
    assert after["Status"]["select"]["name"] == "needs_review"
    assert page(fake, link, "chapter 2")["properties"]["Description"]["rich_text"][0][
        "plain_text"] == "What happens in chapter 2."
    assert any(r.startswith("shot 2.2") and "Status" in r for r in report.restored)
    assert any(r.startswith("shot 2.2") and "Notes" in r and "Due" in r for r in report.pulled)
    # Slate refuses to change a Notion-owned field itself, so the two never drift apart.
    with pytest.raises(NotPermitted, match="chapter 2's Due is kept in Notion"):
        await schedule.set_due(studio.db, prod, producer, 2, "2027-01-01")
    with pytest.raises(NotPermitted, match=r"shot 2\.2's Notes is kept in Notion"):
        await production_shots.edit_shot(studio.db, prod, producer, "2.2", notes="mine")
    await production_shots.edit_shot(studio.db, prod, producer, "2.2", camera="handheld")  # Slate's
    await notion.sync(prod, producer)
    assert page(fake, link, "chapter 2")["properties"]["Due"]["date"] is None
    # A no-change sync afterwards writes nothing.
    fake.reset_counts()
    report = await notion.sync(prod, producer)
    assert not report.changed and fake.calls("PATCH") == 0


async def test_a_production_can_hand_plan_fields_to_notion(
    studio: Studio, prod: Production, producer: Actor, fake: FakeNotion, notion: NotionService,
) -> None:
    await make_production(studio.db, prod, 1, 2)
    await notion.connect(prod, producer, parent=fake.add_parent_page(),
                         notion_owned=["shot.planned"])
    link = await notion_rows.link(studio.db.reader, prod.id)
    assert link is not None
    await notion.sync(prod, producer)
    target = page(fake, link, "shot 1.1")
    fake.edit(target["id"], {"Planned duration": {"number": 7.5}})
    other = page(fake, link, "shot 1.2")
    fake.edit(other["id"], {"Planned duration": {"number": -1}})
    report = await notion.sync(prod, producer)
    assert (await production_shots.shot(studio.db, prod, "1.1")).shot.planned_duration == 7.5
    assert (await production_shots.shot(studio.db, prod, "1.2")).shot.planned_duration == 4.0
    assert any("shot 1.2" in f and "planned duration" in f for f in report.failed)


async def test_a_10000_character_note_round_trips(
    studio: Studio, prod: Production, producer: Actor, fake: FakeNotion, notion: NotionService,
) -> None:
    await make_production(studio.db, prod, 1, 1)
    note = "".join(f"{i:05d} the tide 🌊 " for i in range(700))[:10_000]
    async with studio.db.transaction() as tx:
        chapter = await chapters.by_number(tx, prod.id, 1)
        assert chapter is not None
        await chapters.update(tx, chapter.id, notes=note)
    link = await connected(notion, fake, prod, producer)
    await notion.sync(prod, producer)
    pushed = page(fake, link, "chapter 1")["properties"]["Notes"]["rich_text"]
    assert len(pushed) > 5 and "".join(i["plain_text"] for i in pushed) == note
    edited = note[::-1]
    chunks = [edited[i:i + 1000] for i in range(0, len(edited), 1000)]
    fake.edit(page(fake, link, "chapter 1")["id"],
              {"Notes": {"rich_text": [{"text": {"content": c}} for c in chunks]}})
    await notion.sync(prod, producer)
    chapter = await chapters.by_number(studio.db.reader, prod.id, 1)
    assert chapter is not None and chapter.notes == edited


async def test_an_edit_in_the_minute_of_the_last_pull_is_not_missed(
    studio: Studio, prod: Production, producer: Actor, fake: FakeNotion, notion: NotionService,
) -> None:
    frozen = time.time()
    fake.clock = lambda: frozen  # every edit shows as the minute the last pull started in
    await make_production(studio.db, prod, 1, 1)
    link = await connected(notion, fake, prod, producer)
    await notion.sync(prod, producer)
    await notion.sync(prod, producer)
    fake.edit(page(fake, link, "shot 1.1")["id"],
              {"Priority": {"select": {"name": "high"}}})
    shown = page(fake, link, "shot 1.1")["last_edited_time"]
    link = await notion_rows.link(studio.db.reader, prod.id)
    assert link is not None and link.last_pull_at is not None
    assert shown < link.last_pull_at  # a filter "after the last pull" would skip this edit
    report = await notion.sync(prod, producer)
    assert report.pulled == ["shot 1.1: Priority"]


async def test_a_wrong_token_stops_the_sync_with_notions_reason(
    studio: Studio, prod: Production, producer: Actor, fake: FakeNotion, notion: NotionService,
) -> None:
    await make_production(studio.db, prod, 1, 1)
    await connected(notion, fake, prod, producer)
    fake.token = "ntn_rotated"
    report = await notion.sync(prod, producer)
    assert report.stopped == "Notion said API token is invalid. (unauthorized)"
    assert not report.created and "ntn_test_secret" not in report.summary()
    with pytest.raises(SlateError) as refused:
        await notion.connect(prod, producer, parent=fake.add_parent_page())
    assert refused.value.reason == "Notion refused: API token is invalid. (unauthorized)"


# --- failures -------------------------------------------------------------------------------

async def test_a_429_storm_500s_and_lost_answers_end_with_one_page_per_row(
    studio: Studio, prod: Production, producer: Actor, fake: FakeNotion, notion: NotionService,
) -> None:
    await make_production(studio.db, prod, 4, 5)
    link = await connected(notion, fake, prod, producer)
    fake.storm(4)
    fake.drop_creates = 6
    fake.fail_ratio = 0.1
    report = await notion.sync(prod, producer)
    assert not report.failed and not report.stopped
    assert len(report.created) == 24
    assert len(fake.dropped) == 6 and fake.calls(status=429) >= 4
    assert fake.calls(status=500) > 0
    one_page_per_row(fake, link, expected_keys(4, 5))
    # Every dropped page is the one Slate now points at.
    known = {r.page_id for r in (await notion_rows.rows(studio.db.reader, prod.id)).values()}
    assert set(fake.dropped) <= known


async def test_pages_created_before_a_crash_are_adopted_not_duplicated(
    studio: Studio, prod: Production, producer: Actor, fake: FakeNotion, notion: NotionService,
) -> None:
    await make_production(studio.db, prod, 2, 3)
    link = await connected(notion, fake, prod, producer)
    await notion.sync(prod, producer)
    # The creates succeeded but Slate lost its memory of them (a crash before the commit).
    async with studio.db.transaction() as tx:
        for key in (await notion_rows.rows(tx, prod.id)):
            await notion_rows.forget_page(tx, prod.id, key)
    # And a person duplicated a row in Notion meanwhile.
    twin = fake._create_page({"parent": {"type": "data_source_id",
                                         "data_source_id": link.shots_data_source_id},
                              "properties": {"Key": {"rich_text": [
                                  {"text": {"content": "shot 2.2"}}]}}})
    fake.reset_counts()
    report = await notion.sync(prod, producer)
    assert not report.created and len(report.adopted) == 8
    assert report.trashed == ["shot 2.2"] and fake.pages[twin["id"]]["in_trash"]
    assert fake.calls("POST", "/pages") == 0
    one_page_per_row(fake, link, expected_keys(2, 3))


async def test_a_row_deleted_in_notion_comes_back_and_refusals_are_reported(
    studio: Studio, prod: Production, producer: Actor, fake: FakeNotion, notion: NotionService,
) -> None:
    await make_production(studio.db, prod, 1, 2)
    link = await connected(notion, fake, prod, producer)
    await notion.sync(prod, producer)
    fake.trash(page(fake, link, "shot 1.1")["id"])
    await production_shots.edit_shot(studio.db, prod, producer, "1.1", status="wip")
    report = await notion.sync(prod, producer)
    assert "shot 1.1" in report.created
    one_page_per_row(fake, link, expected_keys(1, 2))
    # A column removed in Notion: the row cannot be written, and Notion's reason is reported.
    del fake.data_sources[link.shots_data_source_id]["properties"]["Takes"]
    await production_shots.edit_shot(studio.db, prod, producer, "1.2", status="wip")
    report = await notion.sync(prod, producer)
    assert report.failed == ["shot 1.2: Takes is not a property that exists. (validation_error)"]


async def test_the_fake_refuses_what_notion_refuses(
    fake: FakeNotion, notion: NotionService, studio: Studio, prod: Production,
    producer: Actor,
) -> None:
    from notion_client import APIResponseError

    from studio.notion.client import NotionRefused

    link = await connected(notion, fake, prod, producer)
    too_long = {"Notes": {"rich_text": [{"text": {"content": "x" * 2001}}]}}
    with pytest.raises(NotionRefused) as refused:
        await notion.api.create_page(link.chapters_data_source_id, too_long)
    assert refused.value.code == "validation_error"
    with pytest.raises(APIResponseError):
        await notion.api.client.data_sources.query(link.chapters_data_source_id,
                                                   page_size=101)
    assert fake.rows(link.chapters_data_source_id) == []


async def test_the_limiter_holds_the_configured_rate(
    studio: Studio, fake: FakeNotion, prod: Production, producer: Actor,
) -> None:
    service = service_for(studio.db, studio.settings, fake, rate=10.0)
    try:
        link = await connected(service, fake, prod, producer)
        fake.reset_counts()
        fake.rate_limit = 15  # Notion's own enforcement, above ours
        source = link.chapters_data_source_id
        await asyncio.gather(*(service.api.data_source(source) for _ in range(25)))
    finally:
        await service.close()
    assert fake.calls() == 25 and fake.calls(status=429) == 0
    assert fake.average_rate() <= 10 * 1.05
    # Evenly spaced: a one-second window holds the rate, plus one at its edge, plus jitter.
    assert fake.peak_rate() <= 12


# --- triggers -------------------------------------------------------------------------------

async def test_changes_are_pushed_automatically_and_notion_pulled_periodically(
    studio: Studio, prod: Production, producer: Actor, fake: FakeNotion,
) -> None:
    await make_production(studio.db, prod, 2, 2)
    service = service_for(studio.db, studio.settings, fake, notion_push_delay=0.2,
                          notion_pull_interval=0.3)
    try:
        link = await connected(service, fake, prod, producer)
        service.start()
        for _ in range(600):
            await asyncio.sleep(0.05)
            if len(fake.rows(link.shots_data_source_id)) == 4:
                break
        assert len(fake.rows(link.shots_data_source_id)) == 4
        await production_shots.edit_shot(studio.db, prod, producer, "1.2", status="needs_review")
        service.changed()
        fake.edit(page(fake, link, "shot 2.1")["id"],
                  {"Notes": {"rich_text": [{"text": {"content": "from Notion"}}]}})
        for _ in range(600):
            await asyncio.sleep(0.05)
            status = page(fake, link, "shot 1.2")["properties"]["Status"]["select"]["name"]
            notes = (await production_shots.shot(studio.db, prod, "2.1")).shot.notes
            if status == "needs_review" and notes == "from Notion":
                break
        assert status == "needs_review" and notes == "from Notion"
    finally:
        await service.close()
    one_page_per_row(fake, link, expected_keys(2, 2))


# --- the shell ------------------------------------------------------------------------------

async def test_the_shell_connects_and_syncs(
    studio: Studio, fake: FakeNotion, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import shell

    await studio.close()  # the shell opens the database itself
    monkeypatch.setenv("NOTION_TOKEN", fake.token)
    monkeypatch.setenv("SLATE_NOTION_BASE_URL", fake.url)
    monkeypatch.setenv("SLATE_NOTION_RATE", "100")
    monkeypatch.setenv("SLATE_DATA_DIR", str(studio.settings.data_dir))
    parent = fake.add_parent_page()
    examples = Path(__file__).parent.parent / "examples" / "low_tide.csv"

    def run(*argv: str) -> int:
        return shell.main(list(argv))

    assert await asyncio.to_thread(run, "init") == 0
    assert await asyncio.to_thread(run, "import-shots", str(examples)) == 0
    assert await asyncio.to_thread(run, "notion-sync") == 1
    assert "Notion is not connected" in capsys.readouterr().err
    assert await asyncio.to_thread(run, "notion-connect", "--parent", parent) == 0
    assert await asyncio.to_thread(run, "notion-sync") == 0
    out = capsys.readouterr().out
    assert "48 created" in out
    assert fake.token not in out
    assert await asyncio.to_thread(run, "notion-sync") == 0
    assert "0 created, 0 updated" in capsys.readouterr().out


async def test_a_reimport_keeps_what_notion_owns(
    studio: Studio, prod: Production, producer: Actor, fake: FakeNotion, notion: NotionService,
) -> None:
    from studio.production import shotlist

    first = ("chapter,chapter_title,shot,description,duration,notes\n"
             "1,Dawn,1,Wide of the flats,4,from the first file\n")
    await shotlist.import_shots(studio.db, prod, producer, first.encode(), "list.csv")
    link = await connected(notion, fake, prod, producer)
    await notion.sync(prod, producer)
    fake.edit(page(fake, link, "shot 1.1")["id"],
              {"Notes": {"rich_text": [{"text": {"content": "from Notion"}}]}})
    await notion.sync(prod, producer)
    again = first.replace("from the first file", "from a later file").replace("4,", "5,")
    report = await shotlist.import_shots(studio.db, prod, producer, again.encode(), "list.csv")
    assert report.kept_from_notion == ["shot 1.1 Notes"] and report.updated == ["1.1"]
    assert "kept as Notion has them: shot 1.1 Notes" in report.summary()
    shot = (await production_shots.shot(studio.db, prod, "1.1")).shot
    assert shot.notes == "from Notion" and shot.planned_duration == 5


async def test_two_processes_syncing_at_once_create_each_page_once(
    studio: Studio, prod: Production, producer: Actor, fake: FakeNotion, notion: NotionService,
) -> None:
    """The bot and a shell's notion-sync on one database: the lease makes them take turns."""
    await make_production(studio.db, prod, 3, 4)
    link = await connected(notion, fake, prod, producer)
    other_db = await Studio.open(studio.settings)
    other = service_for(other_db.db, studio.settings, fake, rate=40.0)
    slow = service_for(studio.db, studio.settings, fake, rate=40.0)
    try:
        first, second = await asyncio.gather(slow.sync(prod, producer),
                                             other.sync(prod, producer))
    finally:
        await other.close()
        await slow.close()
        await other_db.close()
    assert sorted([len(first.created), len(second.created)]) == [0, 15]
    assert not first.trashed and not second.trashed
    one_page_per_row(fake, link, expected_keys(3, 4))
