"""Votes from reaction events: one per member per take, switches, removals, clears, deletions."""

from __future__ import annotations

from storage import votes
from storage.productions import Production
from studio.app import Studio
from studio.production.people import Actor
from studio.review import ballots, rules, windows
from studio.review.ballots import VOTE_AGAINST, VOTE_FOR, Voter
from tests.review.helpers import post_all


async def _running(studio: Studio, prod: Production, producer: Actor) -> tuple:
    status = await windows.open_vote(studio.db, prod, producer, "1.1", 24)
    posted = await post_all(studio, status)
    return status, posted


async def _score(studio: Studio, prod: Production) -> dict[int, tuple[float, float, int]]:
    found = await windows.status(studio.db, prod, "1.1")
    return {c.take.revision: (c.tally.votes_for, c.tally.votes_against, c.tally.voters)
            for c in found.candidates}


async def test_one_vote_per_member_and_switching(studio, sample, producer, candidates):
    _, posted = await _running(studio, sample, producer)
    first = posted[candidates[0].id]
    ann, bob = Voter(1, "Ann"), Voter(2, "Bob")

    change = await ballots.reaction_added(studio.db, first, ann, VOTE_FOR)
    assert change is not None and change.before is None and change.after == 1
    again = await ballots.reaction_added(studio.db, first, ann, VOTE_FOR)
    assert again is not None and not again.changed
    await ballots.reaction_added(studio.db, first, bob, VOTE_FOR)
    assert (await _score(studio, sample))[1] == (2, 0, 2)

    switch = await ballots.reaction_added(studio.db, first, ann, VOTE_AGAINST)
    assert switch is not None and switch.before == 1 and switch.after == -1
    assert switch.stale_emoji == VOTE_FOR  # the bot removes the outdated 👍
    assert (await _score(studio, sample))[1] == (1, 1, 2)

    # Removing the outdated 👍 (by the bot or the member) does not withdraw the 👎 vote.
    stale = await ballots.reaction_removed(studio.db, first, ann.discord_id, VOTE_FOR)
    assert stale is not None and not stale.changed
    assert (await _score(studio, sample))[1] == (1, 1, 2)
    await ballots.reaction_removed(studio.db, first, ann.discord_id, VOTE_AGAINST)
    assert (await _score(studio, sample))[1] == (1, 0, 1)


async def test_other_emoji_and_unknown_messages_are_ignored(studio, sample, producer,
                                                            candidates):
    _, posted = await _running(studio, sample, producer)
    assert await ballots.reaction_added(studio.db, posted[candidates[0].id], Voter(1, "A"),
                                       "🎬") is None
    assert await ballots.reaction_added(studio.db, 424242, Voter(1, "A"), VOTE_FOR) is None
    assert await ballots.reaction_removed(studio.db, posted[candidates[0].id], 99,
                                         VOTE_FOR) is None
    assert (await _score(studio, sample))[1] == (0, 0, 0)


async def test_creator_votes_and_producer_weight_follow_settings(studio, sample, producer,
                                                                 creator, candidates):
    _, posted = await _running(studio, sample, producer)
    message = posted[candidates[0].id]
    await ballots.reaction_added(studio.db, message, Voter(7000, "Cleo Creator"), VOTE_FOR)
    await ballots.reaction_added(studio.db, message, Voter(9000, "Pat Producer", True), VOTE_FOR)
    assert (await _score(studio, sample))[1] == (1, 0, 1)  # the creator's own vote is left out

    await rules.configure(studio.db, sample, producer, creator_votes_count=True,
                           producer_weight=2)
    assert (await _score(studio, sample))[1] == (2, 0, 2)
    # A weight applies to votes cast after it is set.
    await ballots.reaction_added(studio.db, message, Voter(9000, "Pat Producer", True),
                                VOTE_AGAINST)
    assert (await _score(studio, sample))[1] == (1, 2, 2)


async def test_remove_all_and_remove_emoji(studio, sample, producer, candidates):
    _, posted = await _running(studio, sample, producer)
    message = posted[candidates[0].id]
    for n in range(1, 6):
        await ballots.reaction_added(studio.db, message, Voter(n, f"m{n}"),
                                    VOTE_FOR if n % 2 else VOTE_AGAINST)
    assert (await _score(studio, sample))[1] == (3, 2, 5)
    assert await ballots.reactions_cleared(studio.db, message, VOTE_AGAINST) == 2
    assert (await _score(studio, sample))[1] == (3, 0, 3)
    assert await ballots.reactions_cleared(studio.db, message) == 3
    assert (await _score(studio, sample))[1] == (0, 0, 0)


async def test_deleted_message_drops_its_votes_and_is_posted_again(studio, sample, producer,
                                                                   candidates):
    status, posted = await _running(studio, sample, producer)
    first, second = posted[candidates[0].id], posted[candidates[1].id]
    await ballots.reaction_added(studio.db, first, Voter(1, "A"), VOTE_FOR)
    await ballots.reaction_added(studio.db, second, Voter(1, "A"), VOTE_FOR)
    assert await ballots.message_deleted(studio.db, first) == 1
    assert (await _score(studio, sample)) == {1: (0, 0, 0), 2: (1, 0, 1)}
    # Reactions on the deleted message no longer count.
    assert await ballots.reaction_added(studio.db, first, Voter(2, "B"), VOTE_FOR) is None
    bumped = await windows.open_vote(studio.db, sample, producer, "1.1")
    assert [t.id for t in bumped.unposted] == [candidates[0].id]
    assert bumped.window is not None and status.window is not None
    assert bumped.window.id == status.window.id


async def test_reconcile_applies_the_difference(studio, sample, producer, candidates):
    status, posted = await _running(studio, sample, producer)
    first, second = posted[candidates[0].id], posted[candidates[1].id]
    bot = 1
    for n in (2, 3, 4):
        await ballots.reaction_added(studio.db, first, Voter(n, f"m{n}"), VOTE_FOR)
    # While the bot was away: 2 withdrew, 3 switched, 5 voted, 6 reacted with both, the bot's
    # own seeding reactions are there too.
    lists = {
        first: {VOTE_FOR: [Voter(bot, "Slate"), Voter(4, "m4"), Voter(5, "m5"), Voter(6, "m6")],
                VOTE_AGAINST: [Voter(bot, "Slate"), Voter(3, "m3"), Voter(6, "m6")]},
        second: {VOTE_FOR: [Voter(bot, "Slate"), Voter(7, "m7")], VOTE_AGAINST: []},
    }
    assert status.window is not None
    done = await ballots.reconcile(studio.db, status.window.id, lists, ignore=frozenset({bot}))
    assert (done.added, done.removed, done.switched) == (3, 1, 1)
    assert done.stale == ((candidates[0].id, 6, VOTE_FOR),) or done.stale == (
        (candidates[0].id, 6, VOTE_AGAINST),)
    score = await _score(studio, sample)
    assert score[2] == (1, 0, 1)
    assert score[1][2] == 4  # 4, 5, 3 and 6
    again = await ballots.reconcile(studio.db, status.window.id, lists, ignore=frozenset({bot}))
    assert again.changes == 0


async def test_votes_stop_counting_once_closed(studio, sample, producer, candidates, quorum_one):
    _, posted = await _running(studio, sample, producer)
    first = posted[candidates[0].id]
    await ballots.reaction_added(studio.db, first, Voter(1, "A"), VOTE_FOR)
    closing = await windows.close_vote(studio.db, sample, producer, "1.1")
    assert closing.outcome == "approved"
    assert await ballots.reaction_added(studio.db, first, Voter(2, "B"), VOTE_FOR) is None
    assert len(await votes.of_take(studio.db.reader, candidates[0].id)) == 1


async def test_a_batch_applies_events_in_order(studio, sample, producer, candidates):
    from studio.review.ballots import Cleared, Deleted, Reaction

    _, posted = await _running(studio, sample, producer)
    first, second = posted[candidates[0].id], posted[candidates[1].id]
    await ballots.reaction_added(studio.db, first, Voter(9, "Nine"), VOTE_AGAINST)
    results = await ballots.apply_events(studio.db, [
        Reaction(first, 1, VOTE_FOR, True, "A"),
        Reaction(first, 1, VOTE_AGAINST, True, "A"),   # switch
        Reaction(first, 1, VOTE_FOR, False),           # the outdated reaction goes: no change
        Reaction(first, 2, VOTE_FOR, True, "B"),
        Reaction(first, 2, VOTE_FOR, False),           # withdrawn
        Reaction(second, 3, VOTE_FOR, True, "C"),
        Reaction(second, 4, VOTE_AGAINST, True, "D"),
        Cleared(second, VOTE_AGAINST),                 # D's vote goes
        Reaction(second, 5, VOTE_FOR, True, "E"),
        Reaction(first, 6, VOTE_FOR, True, "F"),
        Deleted(first),                                # every vote on the first take goes
        Reaction(first, 7, VOTE_FOR, True, "G"),       # no longer a candidate message
        Reaction(second, 8, "🎬", True, "H"),          # not a vote
    ])
    changes = [r.stale_emoji if isinstance(r, ballots.VoteChange) else r for r in results]
    assert changes[1] == VOTE_FOR
    assert results[7] == 1 and results[10] == 3 and results[11] is None and results[12] is None
    assert (await _score(studio, sample)) == {1: (0, 0, 0), 2: (2, 0, 2)}
    # C and E stand on the second take.
    assert len(await votes.of_take(studio.db.reader, candidates[1].id)) == 2
