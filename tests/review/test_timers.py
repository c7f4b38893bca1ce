"""Durable timers and vote deadlines that close votes, across a restart too."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from storage import timers as timer_rows
from storage.timers import Timer
from studio.app import Studio
from studio.review import ballots, windows
from studio.review.ballots import VOTE_FOR, Voter
from studio.review.timers import Dispatcher, utcnow
from tests.review.helpers import post_all


async def test_dispatcher_fires_in_order_and_once(studio: Studio):
    fired: list[str] = []

    async def handle(timer: Timer) -> None:
        fired.append(timer.data["name"])

    dispatcher = Dispatcher(studio.db)
    dispatcher.on("ping", handle)
    soon = utcnow() + timedelta(milliseconds=50)
    await dispatcher.create("ping", {"name": "second"}, soon + timedelta(milliseconds=30))
    await dispatcher.create("ping", {"name": "first"}, soon)
    await dispatcher.create("ping", {"name": "later"}, utcnow() + timedelta(hours=1))
    dispatcher.start()
    try:
        for _ in range(300):
            left = await timer_rows.due(studio.db.reader, "9999")
            if len(left) == 1:
                break
            await asyncio.sleep(0.01)
    finally:
        await dispatcher.stop()
    assert fired == ["first", "second"]
    # A handled timer is deleted; the one not yet due stays.
    assert [t.data["name"] for t in left] == ["later"]


async def test_failing_handler_is_retried_later(studio: Studio):
    calls = 0

    async def handle(timer: Timer) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("Discord is down")

    dispatcher = Dispatcher(studio.db)
    dispatcher.on("flaky", handle)
    await dispatcher.create("flaky", {}, utcnow())
    assert await dispatcher.fire_due() == 0
    assert calls == 1
    assert await dispatcher.fire_due() == 0  # pushed a minute later, not fired again now
    assert calls == 1
    assert len(await timer_rows.due(studio.db.reader, "9999")) == 1


async def test_deadline_closes_the_vote_after_a_restart(settings, studio: Studio, sample,
                                                        producer, candidates, quorum_one):
    status = await windows.open_vote(studio.db, sample, producer, "1.1", 2)
    posted = await post_all(studio, status)
    await ballots.reaction_added(studio.db, posted[candidates[1].id], Voter(1, "m1"), VOTE_FOR)
    await studio.close()

    # Three hours later, a new process: the timer is still there and closes the vote.
    reopened = await Studio.open(settings)
    studio.db = reopened.db  # the fixture closes whatever it holds
    later = utcnow() + timedelta(hours=3)
    dispatcher = Dispatcher(reopened.db, clock=lambda: later)
    closed = []

    async def close(timer: Timer) -> None:
        closed.append(await windows.close_due(reopened.db, timer.data["window"], now=later))

    dispatcher.on(windows.CLOSE_EVENT, close)
    assert await dispatcher.fire_due() == 1
    assert closed[0] is not None and closed[0].outcome == "approved"
    assert closed[0].approval is not None and closed[0].approval.take.id == candidates[1].id
    assert await timer_rows.due(reopened.db.reader, "9999") == []


async def test_a_moved_deadline_does_not_close_early(studio: Studio, sample, producer,
                                                     candidates):
    status = await windows.open_vote(studio.db, sample, producer, "1.1", 1)
    await windows.open_vote(studio.db, sample, producer, "1.1", 10)
    pending = await timer_rows.due(studio.db.reader, "9999")
    assert len(pending) == 1  # the old timer was replaced
    assert status.window is not None
    two_hours = utcnow() + timedelta(hours=2)
    assert await windows.close_due(studio.db, status.window.id, now=two_hours) is None
    assert [w.id for w in await windows.open_windows(studio.db, sample)] == [status.window.id]
