"""What stops when a studio closes: process-wide resources registered by the modules that own
them (the cut's worker pool), so the Studio handle needs to know none of them."""

from __future__ import annotations

from collections.abc import Callable

_closers: list[Callable[[], None]] = []


def at_close(stop: Callable[[], None]) -> None:
    """Run `stop` when a studio closes (once per registration; registering again is a no-op)."""
    if stop not in _closers:
        _closers.append(stop)


def close_all() -> None:
    for stop in list(_closers):
        stop()
