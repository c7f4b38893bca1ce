"""Claim rules: one owner per chapter, a per-creator limit, typed refusals, an audit trail."""

from __future__ import annotations

import asyncio
import json

import pytest

from storage import audit, chapters
from storage.productions import Production
from studio.app import Studio
from studio.errors import ClaimRefused, InvalidInput, NotFound, NotPermitted
from studio.production import board, claims, schedule, shots
from studio.production.people import Actor, actor, member_named


async def test_claim_then_refusals_name_the_reason(
    studio: Studio, sample: Production, producer: Actor
) -> None:
    alice = await actor(studio.db, sample, "Alice", discord_id=1)
    bob = await actor(studio.db, sample, "Bob", discord_id=2)

    claimed = await claims.claim(studio.db, sample, alice, 7)
    assert claimed.owner_id == alice.id and claimed.status == "wip"

    with pytest.raises(ClaimRefused, match="chapter 7 is already claimed by Alice"):
        await claims.claim(studio.db, sample, bob, 7)
    with pytest.raises(ClaimRefused, match="you already hold chapter 7"):
        await claims.claim(studio.db, sample, alice, 7)
    with pytest.raises(NotFound, match="there is no chapter 99"):
        await claims.claim(studio.db, sample, bob, 99)

    await claims.claim(studio.db, sample, alice, 3)
    with pytest.raises(ClaimRefused, match=r"you already hold 2 chapters: 3, 7 \(the limit is 2\)"):
        await claims.claim(studio.db, sample, alice, 1)


async def test_release_and_producer_moves(
    studio: Studio, sample: Production, producer: Actor
) -> None:
    alice = await actor(studio.db, sample, "Alice", discord_id=1)
    bob = await actor(studio.db, sample, "Bob", discord_id=2)
    await claims.claim(studio.db, sample, alice, 2)

    with pytest.raises(ClaimRefused, match="held by Alice, not you"):
        await claims.release(studio.db, sample, bob, 2)
    with pytest.raises(NotPermitted, match="needs the Producer role"):
        await claims.assign(studio.db, sample, bob, 2, bob.member)
    with pytest.raises(NotPermitted, match="needs the Producer role"):
        await claims.unassign(studio.db, sample, alice, 2)

    moved = await claims.assign(studio.db, sample, producer, 2, bob.member)
    assert moved.owner_id == bob.id
    handed = await claims.transfer(studio.db, sample, bob, 2, alice.member)
    assert handed.owner_id == alice.id
    freed = await claims.release(studio.db, sample, alice, 2)
    assert freed.owner_id is None and freed.status == "open"

    trail = await audit.for_entity(studio.db.reader, "chapter", freed.id)
    assert [e.action for e in trail] == ["import", "claim", "assign", "transfer", "release"]
    assert json.loads(trail[2].before) == {"owner": "Alice"}
    assert json.loads(trail[2].after) == {"owner": "Bob"}
    assert trail[2].actor_id == producer.id


async def test_assign_respects_the_limit_unless_overridden(
    studio: Studio, sample: Production, producer: Actor
) -> None:
    carol = await member_named(studio.db, sample, "Carol")
    for number in (1, 2):
        await claims.assign(studio.db, sample, producer, number, carol)
    with pytest.raises(ClaimRefused, match="Carol already holds 2 chapters: 1, 2"):
        await claims.assign(studio.db, sample, producer, 3, carol)
    forced = await claims.assign(studio.db, sample, producer, 3, carol, override_limit=True)
    assert forced.owner_id == carol.id


async def test_200_concurrent_claims_for_one_chapter_make_exactly_one_owner(
    studio: Studio, sample: Production
) -> None:
    crowd = [await actor(studio.db, sample, f"m{i}", discord_id=1000 + i) for i in range(200)]
    results = await asyncio.gather(
        *(claims.claim(studio.db, sample, who, 5) for who in crowd), return_exceptions=True
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    refusals = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1
    assert len(refusals) == 199
    assert all(isinstance(r, ClaimRefused) for r in refusals)
    owner = next(who for who in crowd if who.id == winners[0].owner_id)
    assert {r.reason for r in refusals} == {f"chapter 5 is already claimed by {owner.name}"}

    stored = await chapters.by_number(studio.db.reader, sample.id, 5)
    assert stored is not None and stored.owner_id == owner.id
    claim_rows = [e for e in await audit.for_entity(studio.db.reader, "chapter", stored.id)
              if e.action == "claim"]
    assert len(claim_rows) == 1 and claim_rows[0].actor_id == owner.id


async def test_per_creator_limit_holds_under_concurrency(
    studio: Studio, sample: Production
) -> None:
    dana = await actor(studio.db, sample, "Dana", discord_id=44)
    results = await asyncio.gather(
        *(claims.claim(studio.db, sample, dana, n) for n in range(1, 9)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 2
    assert all(isinstance(r, ClaimRefused) and "you already hold 2 chapters" in r.reason
               for r in results if isinstance(r, BaseException))
    held = await chapters.owned_by(studio.db.reader, sample.id, dana.id)
    assert len(held) == 2


async def test_due_dates_and_statuses(studio: Studio, sample: Production, producer: Actor) -> None:
    changed = await schedule.set_due(studio.db, sample, producer, 4, "2027-01-15")
    assert changed.due_date == "2027-01-15"
    with pytest.raises(Exception, match="'next friday' is not a date: use YYYY-MM-DD"):
        await schedule.set_due(studio.db, sample, producer, 4, "next friday")
    cleared = await schedule.set_due(studio.db, sample, producer, 4, "clear")
    assert cleared.due_date is None

    alice = await actor(studio.db, sample, "Alice", discord_id=1)
    with pytest.raises(NotPermitted, match="owner or a Producer"):
        await schedule.set_chapter_status(studio.db, sample, alice, 4, "needs_review")
    await claims.claim(studio.db, sample, alice, 4)
    reviewed = await schedule.set_chapter_status(studio.db, sample, alice, 4, "needs_review")
    assert reviewed.status == "needs_review"
    actions = [e.action for e in await audit.for_entity(studio.db.reader, "chapter", reviewed.id)]
    assert actions == ["import", "due", "due", "claim", "status"]


async def test_shot_add_and_edit(studio: Studio, sample: Production, producer: Actor) -> None:
    added = await shots.add_shot(studio.db, sample, producer, 2, description="Insert: kite",
                                      duration=2.5)
    assert added.code == "2.6" and added.shot.planned_duration == 2.5
    edited = await shots.edit_shot(studio.db, sample, producer, "2.6",
                                        planned_duration=3, characters=["Pell"])
    assert edited.shot.planned_duration == 3.0 and edited.shot.character_names == ["Pell"]
    with pytest.raises(Exception, match="at most 600 seconds"):
        await shots.edit_shot(studio.db, sample, producer, "2.6", planned_duration=9999)
    with pytest.raises(Exception, match=r"write chapter\.shot"):
        await shots.shot(studio.db, sample, "two")


async def test_releasing_keeps_decisions_and_the_audit_shows_the_status(
        studio: Studio, sample: Production, producer: Actor) -> None:
    maya = await actor(studio.db, sample, "Maya")
    await claims.claim(studio.db, sample, maya, 1)
    assert (await board.chapter(studio.db, sample, 1)).status == "wip"
    await claims.release(studio.db, sample, maya, 1)
    assert (await board.chapter(studio.db, sample, 1)).status == "open"
    await schedule.set_chapter_status(studio.db, sample, producer, 2, "approved")
    await claims.assign(studio.db, sample, producer, 2, maya.member)
    await claims.unassign(studio.db, sample, producer, 2)
    assert (await board.chapter(studio.db, sample, 2)).status == "approved"
    await schedule.set_chapter_status(studio.db, sample, producer, 3, "omitted")
    with pytest.raises(ClaimRefused, match="cut from the film"):
        await claims.claim(studio.db, sample, maya, 3)
    entries = await audit.recent(studio.db.reader, sample.id, limit=50)
    claim_rows = [e for e in entries if e.entity == "chapter" and e.action in ("claim", "release")]
    assert {json.loads(e.after or "{}").get("status") for e in claim_rows} == {"wip", "open"}


async def test_a_shot_is_approved_only_through_review(
        studio: Studio, sample: Production, producer: Actor) -> None:
    maya = await actor(studio.db, sample, "Maya")
    await claims.claim(studio.db, sample, maya, 1)
    for who in (maya, producer):
        with pytest.raises(InvalidInput, match="through review"):
            await shots.edit_shot(studio.db, sample, who, "1.1", status="approved")
    assert (await shots.shot(studio.db, sample, "1.1")).shot.status != "approved"


async def test_the_chapter_limit_can_change_after_set_up(
        studio: Studio, sample: Production) -> None:
    changed = await board.setup(studio.db, sample.guild_id, sample.title, max_chapters=3)
    assert changed.max_chapters_per_creator == 3
    assert changed.producer_role == sample.producer_role  # not given: kept
    maya = await actor(studio.db, changed, "Maya")
    for number in (1, 2, 3):
        await claims.claim(studio.db, changed, maya, number)
    with pytest.raises(ClaimRefused, match="the limit is 3"):
        await claims.claim(studio.db, changed, maya, 4)
