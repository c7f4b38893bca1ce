"""Ballots: votes on candidate takes, cast and withdrawn as reactions.

Votes arrive as reactions (👍 for, 👎 against) on the message that carries a take. Every
reaction event is applied idempotently: adding a reaction a member already counts changes
nothing; adding the other one switches the vote; removing a reaction withdraws the vote only
if it is still the member's vote. Reconciling with Discord's reaction lists repairs whatever
was missed while the bot was away.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage import (
    audit,
    candidates,
    members,
    review_settings,
    takes,
    vote_windows,
    votes,
)
from storage.db import Database
from storage.rows import Conn
from studio.ops import metrics

VOTE_FOR = "👍"



VOTE_AGAINST = "👎"



VOTE_EMOJI = {VOTE_FOR: 1, VOTE_AGAINST: -1}



EMOJI_OF = {1: VOTE_FOR, -1: VOTE_AGAINST}



@dataclass(frozen=True)
class Voter:
    """Someone who reacted, as Discord describes them."""

    discord_id: int
    name: str
    is_producer: bool = False



# --- reactions → votes ----------------------------------------------------------------------

@dataclass(frozen=True)
class VoteChange:
    """What one reaction event did. `stale_emoji` is the member's other reaction, now outdated."""

    take_id: int
    member_id: int
    before: int | None
    after: int | None
    stale_emoji: str | None = None

    @property
    def changed(self) -> bool:
        return self.before != self.after



@dataclass(frozen=True)
class Reaction:
    """A reaction added or removed on a message, as the gateway reported it."""

    message_id: int
    discord_id: int
    emoji: str
    added: bool
    name: str = ""
    is_producer: bool = False



@dataclass(frozen=True)
class Cleared:
    """All reactions (emoji None), or all of one emoji, were removed from a message."""

    message_id: int
    emoji: str | None = None



@dataclass(frozen=True)
class Deleted:
    """A message was deleted."""

    message_id: int



Event = Reaction | Cleared | Deleted



class _Ballots:
    """One batch's view of the votes it touches: loaded once, changed in memory in event
    order, written back with a few statements. Keys are (take id, member id)."""

    def __init__(self) -> None:
        self.targets: dict[int, candidates.VotingTarget] = {}
        self.members: dict[tuple[int, int], int] = {}
        self.weights: dict[int, float] = {}
        self.votes: dict[tuple[int, int], tuple[int, float]] = {}
        self.loaded: dict[tuple[int, int], tuple[int, float]] = {}
        self.dirty: set[tuple[int, int]] = set()

    async def load(self, tx: Conn, events: list[Event]) -> None:
        message_ids = sorted({e.message_id for e in events})
        self.targets = await candidates.voting_targets(tx, message_ids)
        wanted: dict[int, set[int]] = {}
        voted_on: set[int] = set()
        whole: set[int] = set()  # takes whose votes all may go (cleared, deleted)
        for event in events:
            target = self.targets.get(event.message_id)
            if target is None:
                continue
            if isinstance(event, Reaction):
                wanted.setdefault(target.production_id, set()).add(event.discord_id)
                voted_on.add(target.take_id)
            else:
                whole.add(target.take_id)
        for production_id, discord_ids in wanted.items():
            known = await votes.member_ids_for(tx, production_id, sorted(discord_ids))
            for discord_id, member_id in known.items():
                self.members[(production_id, discord_id)] = member_id
            rules = await review_settings.get(tx, production_id)
            self.weights[production_id] = (
                rules or review_settings.defaults(production_id)).producer_weight
        # Only the ballots this batch can touch: its voters' on its takes, and whole takes.
        self.votes = await votes.current(tx, sorted(voted_on - whole),
                                         sorted(set(self.members.values())))
        self.votes.update(await votes.current(tx, sorted(whole), None))
        self.loaded = dict(self.votes)

    def set(self, key: tuple[int, int], vote: tuple[int, float] | None) -> None:
        if vote is None:
            self.votes.pop(key, None)
        else:
            self.votes[key] = vote
        self.dirty.add(key)

    async def save(self, tx: Conn) -> tuple[int, int, int]:
        """Write the changed ballots; returns (cast, changed, removed) for the metrics."""
        cast, withdrawn = [], []
        new = 0
        for key in sorted(self.dirty):
            now_vote, before = self.votes.get(key), self.loaded.get(key)
            if now_vote == before:
                continue
            if now_vote is None:
                withdrawn.append(key)
            else:
                cast.append((*key, *now_vote))
                new += before is None
        await votes.write(tx, cast, withdrawn)
        return new, len(cast) - new, len(withdrawn)



async def apply_events(db: Database, events: list[Event]) -> list[VoteChange | int | None]:
    """Apply gateway events in order, in one transaction; one result per event.

    A Reaction gives its VoteChange (None when it is not a vote), a Cleared the number of
    votes withdrawn, a Deleted the number of votes dropped with the message.
    """
    results: list[VoteChange | int | None] = []
    ballots = _Ballots()
    async with db.transaction() as tx:
        await ballots.load(tx, events)
        for event in events:
            if isinstance(event, Reaction):
                results.append(await _react(tx, event, ballots))
            elif isinstance(event, Cleared):
                results.append(_clear(event, ballots))
            else:
                results.append(await _delete(tx, event, ballots))
        saved = await ballots.save(tx)
    metrics.count_votes(*saved)  # committed by now
    return results



async def _react(tx: Conn, event: Reaction, ballots: _Ballots) -> VoteChange | None:
    value = VOTE_EMOJI.get(event.emoji)
    target = ballots.targets.get(event.message_id)
    if value is None or target is None:
        return None
    who = (target.production_id, event.discord_id)
    if event.added and who not in ballots.members:
        member = await members.ensure(tx, target.production_id,
                                      event.name or str(event.discord_id), event.discord_id)
        ballots.members[who] = member.id
    member_id = ballots.members.get(who)
    if member_id is None:
        return None  # a removal by someone who never voted
    key = (target.take_id, member_id)
    before = ballots.votes.get(key)
    before_value = None if before is None else before[0]
    if event.added:
        weight = ballots.weights[target.production_id] if event.is_producer else 1.0
        if before != (value, weight):
            ballots.set(key, (value, weight))
        stale = EMOJI_OF[before_value] if before_value not in (None, value) else None
        return VoteChange(target.take_id, member_id, before_value, value, stale)
    if before_value == value:
        ballots.set(key, None)
        return VoteChange(target.take_id, member_id, before_value, None)
    return VoteChange(target.take_id, member_id, before_value, before_value)



def _clear(event: Cleared, ballots: _Ballots) -> int:
    target = ballots.targets.get(event.message_id)
    if target is None or (event.emoji is not None and event.emoji not in VOTE_EMOJI):
        return 0
    only = None if event.emoji is None else VOTE_EMOJI[event.emoji]
    gone = [key for key, (value, _) in ballots.votes.items()
            if key[0] == target.take_id and (only is None or value == only)]
    for key in gone:
        ballots.set(key, None)
    return len(gone)



async def _delete(tx: Conn, event: Deleted, ballots: _Ballots) -> int:
    """A deleted candidate message: its reactions are gone, so are the votes they carried.

    The take stays a candidate; `/vote open` on its shot posts it again. A decided vote keeps
    its record; only the link to the message goes.
    """
    dropped = _clear(Cleared(event.message_id), ballots)
    target = ballots.targets.pop(event.message_id, None)
    message = await candidates.delete_message(tx, event.message_id)
    if message is not None and target is not None:
        await audit.record(tx, target.production_id, None, "take", message.take_id,
                           "candidate_message_deleted",
                           before={"message_id": event.message_id, "votes": dropped})
    return dropped



async def takes_votes(db: Database, message_id: int) -> bool:
    """Whether the message is a candidate whose vote is open (its reactions are ballots)."""
    return await candidates.voting_target(db.reader, message_id) is not None



async def reaction_added(db: Database, message_id: int, voter: Voter, emoji: str
                         ) -> VoteChange | None:
    """A member added a reaction: cast or switch their vote on that take."""
    [result] = await apply_events(db, [Reaction(message_id, voter.discord_id, emoji, True,
                                                voter.name, voter.is_producer)])
    assert not isinstance(result, int)
    return result



async def reaction_removed(db: Database, message_id: int, discord_id: int, emoji: str
                           ) -> VoteChange | None:
    """A member removed a reaction: withdraw their vote if that reaction was their vote."""
    [result] = await apply_events(db, [Reaction(message_id, discord_id, emoji, False)])
    assert not isinstance(result, int)
    return result



async def reactions_cleared(db: Database, message_id: int, emoji: str | None = None) -> int:
    """All reactions (or all of one emoji) were removed from a candidate message."""
    [result] = await apply_events(db, [Cleared(message_id, emoji)])
    assert isinstance(result, int)
    return result



async def message_deleted(db: Database, message_id: int) -> int:
    """A candidate message was deleted; returns how many votes went with it."""
    [result] = await apply_events(db, [Deleted(message_id)])
    assert isinstance(result, int)
    return result



@dataclass(frozen=True)
class Reconciled:
    added: int = 0
    removed: int = 0
    switched: int = 0
    # (take_id, discord_id, emoji) reactions the bot should remove: the member switched.
    stale: tuple[tuple[int, int, str], ...] = ()

    @property
    def changes(self) -> int:
        return self.added + self.removed + self.switched



async def reconcile(
    db: Database, window_id: int, reactions: dict[int, dict[str, list[Voter]]], *,
    ignore: frozenset[int] = frozenset(),
) -> Reconciled:
    """Make the stored votes match Discord's reaction lists, per candidate message.

    `reactions` maps a message id to who reacted with each vote emoji (complete, paged lists);
    a message missing from it is left alone. `ignore` holds ids never counted (the bot).
    A member found under both emoji keeps the vote on record if it is one of them.
    """
    added = removed = switched = 0
    stale: list[tuple[int, int, str]] = []
    async with db.transaction() as tx:
        window = await vote_windows.get(tx, window_id)
        if window is None or window.state != "open":
            return Reconciled()
        rules = await review_settings.put(tx, window.production_id)
        for message in await candidates.of_window(tx, window_id):
            lists = reactions.get(message.message_id)
            if lists is None:
                continue
            take = await takes.get(tx, message.take_id)
            if take is None or take.status != "candidate":
                continue
            stored = await votes.by_discord_id(tx, message.take_id)
            wanted: dict[int, tuple[int, Voter]] = {}
            both: set[int] = set()
            for emoji, value in VOTE_EMOJI.items():
                for voter in lists.get(emoji, []):
                    if voter.discord_id in ignore:
                        continue
                    if voter.discord_id in wanted:
                        both.add(voter.discord_id)
                    wanted[voter.discord_id] = (value, voter)
            for discord_id in both:
                on_record = stored.get(discord_id)
                value, voter = wanted[discord_id]
                keep = on_record.value if on_record is not None else value
                wanted[discord_id] = (keep, voter)
                stale.append((take.id, discord_id, EMOJI_OF[-keep]))
            for discord_id, (value, voter) in wanted.items():
                on_record = stored.get(discord_id)
                if on_record is not None and on_record.value == value:
                    continue
                member = await members.ensure(tx, window.production_id, voter.name, discord_id)
                weight = rules.producer_weight if voter.is_producer else 1.0
                await votes.put(tx, take.id, member.id, value, weight)
                if on_record is None:
                    added += 1
                else:
                    switched += 1
            for discord_id, on_record in stored.items():
                if discord_id not in wanted:
                    await votes.delete(tx, take.id, on_record.member_id)
                    removed += 1
    metrics.count_votes(added, switched, removed)  # committed by now
    return Reconciled(added, removed, switched, tuple(stale))



async def voters_on_record(db: Database, window_id: int) -> set[int]:
    """Discord ids of members with a vote on any take of this vote."""
    found: set[int] = set()
    for message in await candidates.of_window(db.reader, window_id):
        found |= set(await votes.by_discord_id(db.reader, message.take_id))
    return found
