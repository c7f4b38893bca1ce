"""A cut whose build process is gone shows as interrupted at once, not `building` until the
next build: the builder holds an flock on its production's lock for its whole life
(build.build_lock), and the kernel lets go of it the instant the process dies, killed or not.

Taking that lock shared, without waiting, succeeds only when no build runs; while it is held no
build can start, so the rows still marked `building` are settled as interrupted safely.
"""

from __future__ import annotations

import fcntl

from storage import cuts
from storage.productions import Production
from studio.app import Studio
from studio.cut import layout


async def settle_interrupted(studio: Studio, prod: Production) -> int:
    """Mark this production's builds left `building` by a dead process as interrupted;
    returns how many (0 while a build is running)."""
    lock = layout.lock_path(studio.settings, prod.id)  # the file build.build_lock holds
    if not lock.exists():
        return 0
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # a build is running: its row is rightly `building`
        async with studio.db.transaction() as tx:
            return await cuts.abandon_stale(tx, prod.id)
