"""Vote windows: a shot's candidates put to the vote, its status, and its close by the rules
(quorum and margin) or by a producer; a window that ends while the bot is down closes at
start-up (a durable timer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from storage import (
    audit,
    candidates,
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
from storage.productions import Production
from storage.review_settings import ReviewSettings
from storage.rows import Conn
from storage.shots import ShotRef
from storage.takes import Take
from storage.vote_windows import VoteWindow
from storage.votes import Tally
from studio.errors import InvalidInput, NotFound, NotPermitted
from studio.production import shots as production_shots
from studio.production.people import Actor
from studio.review.approvals import CLOSE_EVENT, ApprovalResult, approve_take
from studio.review.rules import MAX_HOURS
from studio.review.timers import Dispatcher, parse, stamp, utcnow

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
    if window is not None:
        # Takes whose post carried this vote stay in it (rejected by a retake, say): their
        # posts show how the vote ended.
        for posted in await candidates.of_window(conn, window.id):
            if posted.take_id not in {t.id for t in shown}:
                take = await takes.get(conn, posted.take_id)
                if take is not None:
                    shown.append(take)
        shown.sort(key=lambda t: t.revision)
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
    ref = await production_shots.shot(db, prod, code)
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
    ref = await production_shots.shot(db, prod, code)
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
        ref = await production_shots.shot(db, prod, code)
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
            approval = await approve_take(tx, prod, ref, take, actor_id, how="vote",
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
