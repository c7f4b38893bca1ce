"""Approvals and retakes: a take chosen for its shot (the cut uses it), or the shot sent back
with a note.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from storage import (
    approvals,
    audit,
    members,
    shots,
    takes,
    timers,
    vote_windows,
)
from storage.db import Database
from storage.members import Member
from storage.productions import Production
from storage.review_settings import ReviewSettings
from storage.rows import Conn
from storage.shots import ShotRef
from storage.takes import Take
from storage.vote_windows import VoteWindow
from studio.errors import InvalidInput, NotFound, NotPermitted
from studio.production import shots as production_shots
from studio.production.people import Actor
from studio.review.rules import settings_of

CLOSE_EVENT = "vote_close"
MAX_NOTE = 1000



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



async def approve_take(
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
    ref = await production_shots.shot(db, prod, code)
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
        return await approve_take(tx, prod, ref, take, who.id, how="direct", window=window,
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
    ref = await production_shots.shot(db, prod, code)
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
