"""Closing votes, approvals, retakes, permissions and the review queue."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from storage import approvals, audit, notion_rows, shots, takes
from studio.cut.plan import timeline_of as build_timeline
from studio.errors import InvalidInput, NotFound, NotPermitted
from studio.production import claims
from studio.production.people import actor
from studio.review import approvals as review_approvals
from studio.review import ballots, rules, windows
from studio.review import queue as review_queue
from studio.review.ballots import VOTE_AGAINST, VOTE_FOR, Voter
from tests.review.helpers import post_all, takes_for


async def _vote(studio, sample, producer, votes: dict[int, list[int]]):
    """Open a vote on 1.1 and cast ballots: take index → list of values by members 1, 2, ..."""
    status = await windows.open_vote(studio.db, sample, producer, "1.1", 24)
    posted = await post_all(studio, status)
    ordered = [c.take.id for c in status.candidates]
    for index, values in votes.items():
        for n, value in enumerate(values, start=1):
            emoji = VOTE_FOR if value > 0 else VOTE_AGAINST
            await ballots.reaction_added(studio.db, posted[ordered[index]], Voter(n, f"m{n}"),
                                        emoji)
    return status


async def test_winner_is_approved_at_close(studio, sample, producer, creator, candidates):
    await _vote(studio, sample, producer, {0: [1, -1, 1, 1], 1: [1, -1, -1]})
    before = await notion_rows.change_signature(studio.db.reader, sample.id)
    closing = await windows.close_vote(studio.db, sample, producer, "1.1")
    assert closing.outcome == "approved" and closing.approval is not None
    assert closing.approval.take.id == candidates[0].id
    assert closing.approval.score == 2
    assert closing.approval.owner is not None and closing.approval.owner.id == creator.id
    shot = await shots.get(studio.db.reader, candidates[0].shot_id)
    assert shot is not None
    assert shot.status == "approved" and shot.approved_take_id == candidates[0].id
    assert (await takes.get(studio.db.reader, candidates[0].id)).status == "approved"
    # The next cut takes the approved take; the next Notion push sees the change.
    timeline = await build_timeline(studio, sample)
    assert [e.take_id for e in timeline.approved] == [candidates[0].id]
    assert await notion_rows.change_signature(studio.db.reader, sample.id) != before
    actions = [e.action for e in await audit.for_entity(studio.db.reader, "shot", shot.id)]
    assert actions[-3:] == ["vote_open", "vote_close", "approve"]
    assert closing.status.window is not None and closing.status.window.state == "closed"


async def test_tie_goes_to_the_producers(studio, sample, producer, candidates):
    await _vote(studio, sample, producer, {0: [1, 1, 1], 1: [1, 1, 1]})
    closing = await windows.close_vote(studio.db, sample, producer, "1.1")
    assert closing.outcome == "tie" and closing.needs_decision
    shot = await shots.get(studio.db.reader, candidates[0].shot_id)
    assert shot is not None and shot.approved_take_id is None
    queue = await review_queue.queue(studio.db, sample)
    assert [(i.kind, i.ref.code) for i in queue if i.ref.code == "1.1"] == [("decision", "1.1")]


async def test_margin_turns_a_narrow_lead_into_a_tie(studio, sample, producer, candidates):
    await rules.configure(studio.db, sample, producer, margin=2)
    await _vote(studio, sample, producer, {0: [1, 1, 1], 1: [1, 1]})
    assert (await windows.close_vote(studio.db, sample, producer, "1.1")).outcome == "tie"


async def test_missed_quorum_and_no_support(studio, sample, producer, candidates):
    await rules.configure(studio.db, sample, producer, quorum=4)
    await _vote(studio, sample, producer, {0: [1, 1, 1]})
    assert (await windows.close_vote(studio.db, sample, producer, "1.1")).outcome == "no_quorum"
    # Reopening a vote waiting for a decision keeps its votes.
    await rules.configure(studio.db, sample, producer, quorum=1)
    reopened = await windows.open_vote(studio.db, sample, producer, "1.1", 1)
    assert reopened.window is not None and reopened.window.state == "open"
    assert reopened.candidates[0].tally.score == 3
    await ballots.reaction_added(studio.db, reopened.candidates[0].message.message_id,
                                Voter(1, "m1"), VOTE_AGAINST)
    for n in (2, 3):
        await ballots.reaction_removed(studio.db, reopened.candidates[0].message.message_id, n,
                                      VOTE_FOR)
    assert (await windows.close_vote(studio.db, sample, producer, "1.1")).outcome == "no_support"


async def test_direct_approval_replaces_and_keeps_history(studio, sample, producer,
                                                          candidates):
    first = await review_approvals.approve(studio.db, sample, producer, "1.1r1")
    assert first.previous is None
    second = await review_approvals.approve(studio.db, sample, producer, "1.1 #2")
    assert second.previous is not None and second.previous.id == candidates[0].id
    assert (await takes.get(studio.db.reader, candidates[0].id)).status == "superseded"
    shot = await shots.get(studio.db.reader, candidates[0].shot_id)
    assert shot is not None and shot.approved_take_id == candidates[1].id
    history = await approvals.approvals_of_shot(studio.db.reader, shot.id)
    assert [(a.take_id, a.previous_take_id, a.how) for a in history] == [
        (candidates[0].id, None, "direct"), (candidates[1].id, candidates[0].id, "direct")]
    with pytest.raises(InvalidInput, match="already the approved take"):
        await review_approvals.approve(studio.db, sample, producer, "1.1r2")


async def test_approval_closes_a_running_vote(studio, sample, producer, candidates):
    status = await _vote(studio, sample, producer, {0: [1]})
    await review_approvals.approve(studio.db, sample, producer, "1.1r2")
    assert status.window is not None
    after = await windows.window_status(studio.db, status.window.id)
    assert after.window is not None
    assert (after.window.state, after.window.outcome) == ("closed", "decided")
    assert await windows.open_windows(studio.db, sample) == []


async def test_refusals_change_nothing(studio, sample, producer, creator, candidates):
    member = await actor(studio.db, sample, "Max Member", discord_id=1234)
    with pytest.raises(NotPermitted, match="Producer role"):
        await windows.open_vote(studio.db, sample, member, "1.1")
    with pytest.raises(NotPermitted):
        await review_approvals.approve(studio.db, sample, creator, "1.1r1")
    with pytest.raises(NotPermitted):
        await review_approvals.retake(studio.db, sample, member, "1.1", "darker")
    with pytest.raises(NotPermitted):
        await rules.configure(studio.db, sample, creator, quorum=0)
    with pytest.raises(NotFound, match="no take r9"):
        await review_approvals.approve(studio.db, sample, producer, "1.1r9")
    with pytest.raises(InvalidInput, match="not a take"):
        await review_approvals.approve(studio.db, sample, producer, "1.1")
    with pytest.raises(InvalidInput, match="no candidate takes"):
        await windows.open_vote(studio.db, sample, producer, "1.2")
    with pytest.raises(InvalidInput, match="between"):
        await windows.open_vote(studio.db, sample, producer, "1.1", 0)
    with pytest.raises(InvalidInput, match="note"):
        await review_approvals.retake(studio.db, sample, producer, "1.1", "  ")
    with pytest.raises(InvalidInput, match="no vote running"):
        await windows.close_vote(studio.db, sample, producer, "1.1")
    with pytest.raises(InvalidInput, match="between"):
        await rules.configure(studio.db, sample, producer, producer_weight=0)
    shot = await shots.get(studio.db.reader, candidates[0].shot_id)
    assert shot is not None and shot.status == "needs_review" and shot.approved_take_id is None
    assert await windows.open_windows(studio.db, sample) == []
    # The chapter owner may run votes on their shots, and approve once the production allows.
    assert (await windows.open_vote(studio.db, sample, creator, "1.1")).window is not None
    await rules.configure(studio.db, sample, producer, owner_may_approve=True)
    assert (await review_approvals.approve(studio.db, sample, creator, "1.1r1")).how == "direct"


async def test_retake_sends_the_shot_back(studio, sample, producer, creator, candidates,
                                          tmp_path: Path):
    await _vote(studio, sample, producer, {0: [1]})
    sent = await review_approvals.retake(studio.db, sample, producer, "1.1",
                                         "the sea should be calmer")
    assert sent.owner is not None and sent.owner.id == creator.id
    assert sorted(t.id for t in sent.rejected) == sorted(t.id for t in candidates)
    shot = await shots.get(studio.db.reader, candidates[0].shot_id)
    assert shot is not None and shot.status == "retake"
    notes = await approvals.retakes_of_shot(studio.db.reader, shot.id)
    assert [r.note for r in notes] == ["the sea should be calmer"]
    assert await windows.open_windows(studio.db, sample) == []
    # A new take brings the shot back to review and into the queue.
    await takes_for(studio, sample, creator, "1.1", 1, tmp_path)
    queue = await review_queue.queue(studio.db, sample)
    assert [(i.kind, i.ref.code, i.candidates) for i in queue] == [("unopened", "1.1", 1)]


async def test_queue_lists_oldest_first_with_messages(studio, sample, producer, creator,
                                                      candidates, tmp_path: Path):
    other = await actor(studio.db, sample, "Otto Other", discord_id=7001)
    await claims.claim(studio.db, sample, other, 2)
    await takes_for(studio, sample, other, "2.3", 1, tmp_path)
    await asyncio.sleep(0.003)  # stamps are to the millisecond: the vote opens strictly later
    await _vote(studio, sample, producer, {})
    queue = await review_queue.queue(studio.db, sample)
    assert [(i.kind, i.ref.code) for i in queue] == [("unopened", "2.3"), ("voting", "1.1")]
    voting = queue[1]
    assert len(voting.messages) == 2 and voting.candidates == 2
    mine = await review_queue.queue(studio.db, sample, creator, mine=True)
    assert [i.ref.code for i in mine] == ["1.1"]


@pytest.mark.parametrize(("scores", "voters", "quorum", "margin", "expected"), [
    ([3, 1], 4, 3, 1, ("approved", 1)),
    ([3, 3], 4, 3, 1, ("tie", None)),
    ([3, 3], 4, 3, 0, ("tie", None)),          # an exact tie is a tie even with no margin
    ([3, 2.5], 4, 3, 0, ("approved", 1)),
    ([3, 2], 4, 3, 2, ("tie", None)),          # a lead under the margin
    ([2], 2, 3, 1, ("no_quorum", None)),
    ([1], 1, 1, 1, ("approved", 1)),           # one candidate needs the margin over zero
    ([1], 1, 1, 2, ("tie", None)),
    ([0, -1], 5, 3, 1, ("no_support", None)),
    ([-2, 4], 6, 0, 1, ("approved", 2)),
])
def test_decide(scores, voters, quorum, margin, expected):
    from storage.review_settings import defaults
    from storage.votes import Tally

    rules = dataclasses.replace(defaults(1), quorum=quorum, margin=margin)
    tallies = [Tally(n, max(s, 0), max(-s, 0), voters) for n, s in enumerate(scores, start=1)]
    assert windows.decide(tallies, voters, rules) == expected
