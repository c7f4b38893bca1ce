"""What stops when a studio closes: process-wide resources registered by the modules that own
them (the cut's worker pool, the editor's hand-offs still being written), so the Studio handle
needs to know none of them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

_closers: list[Callable[[], None]] = []
_settlers: list[Callable[[], Awaitable[None]]] = []


def at_close(stop: Callable[[], None]) -> None:
    """Run `stop` when a studio closes (once per registration; registering again is a no-op)."""
    if stop not in _closers:
        _closers.append(stop)


def before_close(settle: Callable[[], Awaitable[None]]) -> None:
    """Await `settle` when a studio closes, before anything stops: work it started that still
    needs the database and the workers finishes first."""
    if settle not in _settlers:
        _settlers.append(settle)


async def settle_all() -> None:
    for settle in list(_settlers):
        await settle()


def close_all() -> None:
    for stop in list(_closers):
        stop()
