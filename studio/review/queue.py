"""The review queue: what waits for a decision, oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from storage import (
    candidates,
    shots,
    takes,
    vote_windows,
)
from storage.candidates import CandidateMessage
from storage.db import Database
from storage.productions import Production
from storage.shots import ShotRef
from storage.vote_windows import VoteWindow
from studio.production.people import Actor

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
