"""Review: votes on candidate takes, vote windows and their outcome, approvals and retakes.

Votes arrive as reactions (👍 for, 👎 against) on the message that carries a take. Every
reaction event is applied idempotently: adding a reaction a member already counts changes
nothing; adding the other one switches the vote; removing a reaction withdraws the vote only
if it is still the member's vote. Reconciling with Discord's reaction lists repairs whatever
was missed while the bot was away.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from storage import (
    approvals,
    audit,
    candidates,
    chapter_threads,
    members,
    productions,
    review_settings,
    shots,
    takes,
    timers,
    vote_windows,
    votes,
)
from storage.candidates import CandidateMessage
from storage.db import Database
from storage.members import Member
from storage.productions import Production
from storage.review_settings import ReviewSettings
from storage.rows import Conn
from storage.shots import ShotRef
from storage.takes import Take
from storage.vote_windows import VoteWindow
from storage.votes import Tally
from studio.errors import InvalidInput, NotFound, NotPermitted
from studio.ops import metrics
from studio.production import claims
from studio.production.people import Actor
from studio.review.timers import Dispatcher, parse, stamp, utcnow

VOTE_FOR = "👍"
VOTE_AGAINST = "👎"
VOTE_EMOJI = {VOTE_FOR: 1, VOTE_AGAINST: -1}
EMOJI_OF = {1: VOTE_FOR, -1: VOTE_AGAINST}
CLOSE_EVENT = "vote_close"
MAX_HOURS = 24 * 30
MAX_NOTE = 1000


@dataclass(frozen=True)
class Voter:
    """Someone who reacted, as Discord describes them."""

    discord_id: int
    name: str
    is_producer: bool = False


# --- settings -------------------------------------------------------------------------------

async def settings_of(db: Database, prod: Production) -> ReviewSettings:
    found = await review_settings.get(db.reader, prod.id)
    if found is not None:
        return found
    async with db.transaction() as tx:
        return await review_settings.put(tx, prod.id)


_LIMITS = {
    "quorum": (0, 10_000), "margin": (0, 10_000), "creator_votes_count": (0, 1),
    "producer_weight": (0.1, 100), "owner_may_approve": (0, 1), "vote_hours": (0.01, MAX_HOURS),
}


async def configure(db: Database, prod: Production, who: Actor, **values: float | int | bool
                    ) -> ReviewSettings:
    """Change how this production decides (producers only)."""
    if not who.is_producer:
        raise NotPermitted(f"changing the review rules needs the {prod.producer_role} role")
    given = {k: v for k, v in values.items() if v is not None}
    for name, value in given.items():
        if name not in _LIMITS:
            raise InvalidInput(f"there is no review setting '{name}'")
        low, high = _LIMITS[name]
        if not low <= float(value) <= high:
            raise InvalidInput(f"{name} must be between {low:g} and {high:g}")
        if name in ("quorum", "creator_votes_count", "owner_may_approve"):
            given[name] = int(value)
    async with db.transaction() as tx:
        before = await review_settings.put(tx, prod.id)
        after = await review_settings.put(tx, prod.id, **given)
        await audit.record(tx, prod.id, who.id, "review_settings", prod.id, "update",
                           before={k: getattr(before, k) for k in given}, after=given)
    return after


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


# --- vote windows ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Candidate:
    take: Take
    message: CandidateMessage | None
    tally: Tally


@dataclass(frozen=True)
class VoteStatus:
    window: VoteWindow | None
    ref: ShotRef
    candidates: list[Candidate]
    voters: int
    rules: ReviewSettings

    @property
    def unposted(self) -> list[Take]:
        """Candidate takes with no message carrying their vote yet."""
        return [c.take for c in self.candidates if c.message is None]


def _may_run_vote(who: Actor, ref: ShotRef, prod: Production, doing: str) -> None:
    if not who.is_producer and ref.owner_id != who.id:
        raise NotPermitted(f"{doing} needs the {prod.producer_role} role or chapter "
                           f"{ref.chapter_number}'s ownership")


async def _status(conn: Conn, ref: ShotRef, window: VoteWindow | None) -> VoteStatus:
    # A plain read may meet a production whose rules row is not written yet: use the defaults.
    rules = await review_settings.get(conn, ref.production_id) or review_settings.defaults(
        ref.production_id)
    shown = [t for t in await takes.of_shot(conn, ref.shot.id) if t.status == "candidate"]
    if window is not None and window.winner_take_id is not None:
        winner = await takes.get(conn, window.winner_take_id)
        if winner is not None and winner.id not in {t.id for t in shown}:
            shown.append(winner)
    ids = [t.id for t in shown]
    creator_counts = bool(rules.creator_votes_count)
    tallied = await votes.tallies(conn, ids, creator_counts=creator_counts)
    found = []
    for take in shown:
        message = await candidates.of_take(conn, take.id)
        if window is not None and message is not None and message.window_id != window.id:
            message = None
        found.append(Candidate(take, message, tallied[take.id]))
    voters = await votes.distinct_voters(conn, ids, creator_counts=creator_counts)
    return VoteStatus(window, ref, found, voters, rules)


async def open_vote(
    db: Database, prod: Production, who: Actor, code: str, hours: float | None = None, *,
    dispatcher: Dispatcher | None = None,
) -> VoteStatus:
    """Put a shot's candidate takes to the vote, or bump a vote already running.

    Bumping keeps the votes cast; with `hours` it moves the deadline to that far from now.
    The caller posts one message per take in `unposted` and records it with `record_posted`.
    """
    ref = await claims.shot(db, prod, code)
    _may_run_vote(who, ref, prod, "opening a vote")
    if hours is not None and not 0 < hours <= MAX_HOURS:
        raise InvalidInput(f"a vote lasts between a minute and {MAX_HOURS} hours")
    if ref.shot.status == "omitted":
        raise InvalidInput(f"shot {ref.code} has been cut from the film")
    async with db.transaction() as tx:
        rules = await review_settings.put(tx, prod.id)
        pending = [t for t in await takes.of_shot(tx, ref.shot.id) if t.status == "candidate"]
        if not pending:
            raise InvalidInput(f"shot {ref.code} has no candidate takes to vote on")
        deadline = utcnow() + timedelta(hours=hours if hours is not None else rules.vote_hours)
        window = await vote_windows.live_of_shot(tx, ref.shot.id)
        if window is None:
            window = await vote_windows.create(tx, prod.id, ref.shot.id, who.id, stamp(deadline))
            await timers.create(tx, CLOSE_EVENT, {"window": window.id}, stamp(deadline))
            await audit.record(tx, prod.id, who.id, "shot", ref.shot.id, "vote_open",
                               after={"window": window.id, "deadline": window.deadline,
                                      "takes": [t.revision for t in pending]})
        elif window.state == "decision" or hours is not None:
            # Reopening a vote that was waiting for a decision, or moving its deadline.
            await vote_windows.reopen(tx, window.id, stamp(deadline))
            for timer in await timers.find(tx, CLOSE_EVENT, {"window": window.id}):
                await timers.delete(tx, timer.id)
            await timers.create(tx, CLOSE_EVENT, {"window": window.id}, stamp(deadline))
            await audit.record(tx, prod.id, who.id, "shot", ref.shot.id, "vote_bump",
                               before={"state": window.state, "deadline": window.deadline},
                               after={"state": "open", "deadline": stamp(deadline)})
            window = await vote_windows.get(tx, window.id)
        status = await _status(tx, ref, window)
    if dispatcher is not None:
        dispatcher.poke()
    return status


async def record_posted(db: Database, window_id: int, take_id: int, channel_id: int,
                        message_id: int) -> None:
    """The message carrying a take's vote was posted."""
    async with db.transaction() as tx:
        await candidates.put(tx, take_id, window_id, channel_id, message_id)


async def record_summary(db: Database, window_id: int, channel_id: int, message_id: int) -> None:
    async with db.transaction() as tx:
        await vote_windows.set_summary(tx, window_id, channel_id, message_id)


async def status(db: Database, prod: Production, code: str) -> VoteStatus:
    """The shot's current (or latest) vote with each candidate's tally."""
    ref = await claims.shot(db, prod, code)
    window = await vote_windows.live_of_shot(db.reader, ref.shot.id)
    if window is None:
        window = await vote_windows.latest_of_shot(db.reader, ref.shot.id)
    return await _status(db.reader, ref, window)


async def window_status(db: Database, window_id: int) -> VoteStatus:
    window = await vote_windows.get(db.reader, window_id)
    if window is None:
        raise NotFound(f"there is no vote {window_id}")
    ref = await shots.ref(db.reader, window.shot_id)
    assert ref is not None
    return await _status(db.reader, ref, window)


async def open_windows(db: Database, prod: Production | None = None) -> list[VoteWindow]:
    """Votes running now (every production's when prod is None), oldest first."""
    return await vote_windows.in_state(db.reader, None if prod is None else prod.id, "open")


def decide(tallies: list[Tally], voters: int, rules: ReviewSettings) -> tuple[str, int | None]:
    """The outcome of a vote: ('approved', take id) or why it goes to the producers."""
    if voters < rules.quorum or not tallies:
        return "no_quorum", None
    ranked = sorted(tallies, key=lambda t: (-t.score, t.take_id))
    top = ranked[0]
    if top.score <= 0:
        return "no_support", None
    if len(ranked) > 1:
        gap = top.score - ranked[1].score
        if gap <= 0 or gap < rules.margin:
            return "tie", None
    elif top.score < rules.margin:
        return "tie", None
    return "approved", top.take_id


@dataclass(frozen=True)
class Closing:
    status: VoteStatus
    outcome: str
    approval: ApprovalResult | None = None

    @property
    def needs_decision(self) -> bool:
        return self.approval is None


async def close_vote(
    db: Database, prod: Production, who: Actor | None, code: str | None = None, *,
    window_id: int | None = None,
) -> Closing:
    """Close a running vote now: approve the winner, or leave the decision to the producers.

    `who` None is the deadline itself. Reconcile with Discord first.
    """
    if window_id is None:
        assert code is not None
        ref = await claims.shot(db, prod, code)
        window = await vote_windows.live_of_shot(db.reader, ref.shot.id)
        if window is None or window.state != "open":
            raise InvalidInput(f"there is no vote running on shot {ref.code}")
    else:
        found = await vote_windows.get(db.reader, window_id)
        if found is None:
            raise NotFound(f"there is no vote {window_id}")
        window = found
        ref = await shots.ref(db.reader, window.shot_id)  # type: ignore[assignment]
        assert ref is not None
    if who is not None:
        _may_run_vote(who, ref, prod, "closing a vote")
    async with db.transaction() as tx:
        window = await vote_windows.get(tx, window.id)  # type: ignore[assignment]
        if window is None or window.state != "open":
            raise InvalidInput(f"the vote on shot {ref.code} is already closed")
        counted = await _status(tx, ref, window)
        outcome, winner = decide([c.tally for c in counted.candidates
                                  if c.take.status == "candidate"], counted.voters, counted.rules)
        for timer in await timers.find(tx, CLOSE_EVENT, {"window": window.id}):
            await timers.delete(tx, timer.id)
        approval = None
        actor_id = who.id if who is not None else None
        await audit.record(tx, prod.id, actor_id, "shot", ref.shot.id, "vote_close",
                           after={"window": window.id, "outcome": outcome,
                                  "voters": counted.voters,
                                  "scores": {c.take.revision: c.tally.score
                                             for c in counted.candidates}})
        if winner is not None:
            take = next(c.take for c in counted.candidates if c.take.id == winner)
            score = next(c.tally.score for c in counted.candidates if c.take.id == winner)
            approval = await _approve(tx, prod, ref, take, actor_id, how="vote",
                                      window=window, score=score)
        else:
            await vote_windows.finish(tx, window.id, state="decision", outcome=outcome,
                                      winner_take_id=None)
        window = await vote_windows.get(tx, window.id)
        final = await _status(tx, ref, window)
    return Closing(final, outcome, approval)


async def close_due(db: Database, window_id: int, *, now: datetime | None = None
                    ) -> Closing | None:
    """The deadline timer fired: close the vote if it is still running and due."""
    window = await vote_windows.get(db.reader, window_id)
    if window is None or window.state != "open":
        return None
    if parse(window.deadline) > (now or utcnow()):
        return None  # moved later; its new timer will fire
    prod = await productions.get(db.reader, window.production_id)
    assert prod is not None
    return await close_vote(db, prod, None, window_id=window_id)


# --- approvals and retakes ------------------------------------------------------------------

_TAKE_REF = re.compile(r"^\s*(\d+)\.(\d+)\s*(?:r|#|/|v|\s)\s*(\d+)\s*$", re.IGNORECASE)


def parse_take(text: str) -> tuple[str, int]:
    """'3.2r2' (also 3.2#2, 3.2/2) → ('3.2', 2): shot 3.2, revision 2."""
    match = _TAKE_REF.match(text)
    if not match or int(match.group(3)) == 0:
        raise InvalidInput(f"'{text.strip()[:20]}' is not a take: write shot and revision, "
                           "e.g. 3.2r2")
    return f"{match.group(1)}.{match.group(2)}", int(match.group(3))


@dataclass(frozen=True)
class ApprovalResult:
    ref: ShotRef
    take: Take
    previous: Take | None
    how: str
    score: float | None = None
    owner: Member | None = None
    window_id: int | None = None


async def _approve(
    tx: Conn, prod: Production, ref: ShotRef, take: Take, actor_id: int | None, *, how: str,
    window: VoteWindow | None, score: float | None,
) -> ApprovalResult:
    shot = await shots.get(tx, ref.shot.id)
    assert shot is not None
    previous = None
    if shot.approved_take_id is not None and shot.approved_take_id != take.id:
        previous = await takes.get(tx, shot.approved_take_id)
        await takes.set_status(tx, shot.approved_take_id, "superseded")
    await takes.set_status(tx, take.id, "approved")
    await shots.update(tx, shot.id, approved_take_id=take.id, status="approved")
    await approvals.record_approval(tx, shot.id, take.id, previous.id if previous else None,
                                    actor_id, how, window.id if window else None, score)
    await audit.record(
        tx, prod.id, actor_id, "shot", shot.id, "approve",
        before={"status": shot.status,
                "approved_revision": previous.revision if previous else None},
        after={"status": "approved", "approved_revision": take.revision, "how": how,
               "score": score})
    await audit.record(tx, prod.id, actor_id, "take", take.id, "status",
                       before={"status": take.status}, after={"status": "approved"})
    if previous is not None:
        await audit.record(tx, prod.id, actor_id, "take", previous.id, "status",
                           before={"status": previous.status}, after={"status": "superseded"})
    if window is not None:
        await vote_windows.finish(tx, window.id, state="closed",
                                  outcome="approved" if how == "vote" else "decided",
                                  winner_take_id=take.id)
    owner = await members.get(tx, ref.owner_id) if ref.owner_id else None
    approved = await takes.get(tx, take.id)
    assert approved is not None
    return ApprovalResult(ref, approved, previous, how, score, owner,
                          window.id if window else None)


def _may_decide(who: Actor, ref: ShotRef, prod: Production, rules: ReviewSettings,
                doing: str) -> None:
    if who.is_producer:
        return
    if rules.owner_may_approve and ref.owner_id == who.id:
        return
    extra = " or, when the production allows it, the chapter's owner" if not (
        rules.owner_may_approve) else f" or chapter {ref.chapter_number}'s ownership"
    raise NotPermitted(f"{doing} needs the {prod.producer_role} role{extra}")


async def approve(db: Database, prod: Production, who: Actor, take_text: str) -> ApprovalResult:
    """Approve a take directly; it replaces any take approved before (history kept)."""
    code, revision = parse_take(take_text)
    ref = await claims.shot(db, prod, code)
    rules = await settings_of(db, prod)
    _may_decide(who, ref, prod, rules, "approving a take")
    async with db.transaction() as tx:
        take = next((t for t in await takes.of_shot(tx, ref.shot.id) if t.revision == revision),
                    None)
        if take is None:
            raise NotFound(f"shot {ref.code} has no take r{revision}")
        shot = await shots.get(tx, ref.shot.id)
        assert shot is not None
        if shot.approved_take_id == take.id:
            raise InvalidInput(f"take {ref.code}r{revision} is already the approved take")
        if shot.status == "omitted":
            raise InvalidInput(f"shot {ref.code} has been cut from the film")
        window = await vote_windows.live_of_shot(tx, ref.shot.id)
        if window is not None:
            for timer in await timers.find(tx, CLOSE_EVENT, {"window": window.id}):
                await timers.delete(tx, timer.id)
        return await _approve(tx, prod, ref, take, who.id, how="direct", window=window,
                              score=None)


@dataclass(frozen=True)
class RetakeResult:
    ref: ShotRef
    note: str
    owner: Member | None
    rejected: list[Take]


async def retake(db: Database, prod: Production, who: Actor, code: str, note: str
                 ) -> RetakeResult:
    """Send a shot back to its owner with a note; its candidate takes are rejected."""
    note = note.strip()
    if not note:
        raise InvalidInput("a retake needs a note saying what to change")
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"a retake note is at most {MAX_NOTE} characters")
    ref = await claims.shot(db, prod, code)
    rules = await settings_of(db, prod)
    _may_decide(who, ref, prod, rules, "asking for a retake")
    async with db.transaction() as tx:
        shot = await shots.get(tx, ref.shot.id)
        assert shot is not None
        if shot.status == "omitted":
            raise InvalidInput(f"shot {ref.code} has been cut from the film")
        rejected = [t for t in await takes.of_shot(tx, shot.id) if t.status == "candidate"]
        for take in rejected:
            await takes.set_status(tx, take.id, "rejected")
        window = await vote_windows.live_of_shot(tx, shot.id)
        if window is not None:
            for timer in await timers.find(tx, CLOSE_EVENT, {"window": window.id}):
                await timers.delete(tx, timer.id)
            await vote_windows.finish(tx, window.id, state="closed", outcome="retake",
                                      winner_take_id=None)
        await shots.update(tx, shot.id, status="retake")
        await approvals.record_retake(tx, shot.id, who.id, note)
        await audit.record(tx, prod.id, who.id, "shot", shot.id, "retake",
                           before={"status": shot.status},
                           after={"status": "retake", "note": note,
                                  "rejected": [t.revision for t in rejected]})
        owner = await members.get(tx, ref.owner_id) if ref.owner_id else None
    return RetakeResult(ref, note, owner, rejected)


# --- the review queue -----------------------------------------------------------------------

@dataclass(frozen=True)
class QueueItem:
    """A shot waiting: 'unopened' (candidates, no vote yet), 'voting', or 'decision'."""

    kind: str
    ref: ShotRef
    since: str
    window: VoteWindow | None
    messages: list[CandidateMessage]
    candidates: int
    revisions: dict[int, int] = field(default_factory=dict)  # take id → revision

    def revision_of(self, message: CandidateMessage) -> int | None:
        return self.revisions.get(message.take_id)


async def queue(db: Database, prod: Production, who: Actor | None = None, *,
                mine: bool = False) -> list[QueueItem]:
    """Shots waiting for a vote or a decision, oldest first; `mine`: who's chapters only."""
    conn = db.reader
    items: list[QueueItem] = []
    live: set[int] = set()
    for state, kind in (("open", "voting"), ("decision", "decision")):
        for window in await vote_windows.in_state(conn, prod.id, state):
            ref = await shots.ref(conn, window.shot_id)
            if ref is None:
                continue
            live.add(ref.shot.id)
            messages = await candidates.of_window(conn, window.id)
            shot_takes = await takes.of_shot(conn, ref.shot.id)
            count = sum(1 for t in shot_takes if t.status == "candidate")
            revisions = {t.id: t.revision for t in shot_takes}
            since = window.opened_at if kind == "voting" else (window.closed_at or
                                                                window.opened_at)
            items.append(QueueItem(kind, ref, since, window, messages, count, revisions))
    for shot_id, since, count in await candidates.shots_with_candidates(conn, prod.id):
        if shot_id in live:
            continue
        ref = await shots.ref(conn, shot_id)
        if ref is not None:
            items.append(QueueItem("unopened", ref, since, None, [], count))
    if mine and who is not None:
        items = [i for i in items if i.ref.owner_id == who.id]
    items.sort(key=lambda i: (i.since, i.ref.chapter_number, i.ref.shot.number))
    return items


# --- where notices go -----------------------------------------------------------------------

async def chapter_thread(db: Database, chapter_id: int) -> int | None:
    return await chapter_threads.get(db.reader, chapter_id)


async def record_chapter_thread(db: Database, chapter_id: int, parent_channel_id: int,
                                thread_id: int) -> None:
    async with db.transaction() as tx:
        await chapter_threads.put(tx, chapter_id, parent_channel_id, thread_id)


async def production_of(db: Database, production_id: int) -> Production | None:
    return await productions.get(db.reader, production_id)


async def takes_to_approve(db: Database, prod: Production, who: Actor, typed: str = "",
                           limit: int = 25) -> list[tuple[str, str]]:
    """(label, value) of candidate takes `who` may approve whose name starts with `typed`."""
    rules = await settings_of(db, prod)
    typed = typed.strip().lower()
    found: list[tuple[str, str]] = []
    for ref in await shots.of_production(db.reader, prod.id):
        if not who.is_producer and not (rules.owner_may_approve and ref.owner_id == who.id):
            continue
        for take in await takes.of_shot(db.reader, ref.shot.id):
            value = f"{ref.code}r{take.revision}"
            if take.status == "candidate" and value.startswith(typed):
                found.append((f"{value} — {ref.shot.description}"[:100], value))
                if len(found) == limit:
                    return found
    return found
