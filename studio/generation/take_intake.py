"""An uploaded take, all of it or none: checked, stored, given its preview and thumbnail.

Everything checkable is checked before anything is stored (generation/upload_check.py). Should a
later step still fail (a thumbnail that cannot be made, a full disk), what was stored is taken
back in one transaction: the take, the shot's status, the media rows and files nothing else
uses. The user hears one line, and a retry adds revision 1 again, not a second revision.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from storage import audit, operations, shots, takes
from storage.productions import Production
from storage.takes import Provenance, Take
from studio import mediastore
from studio.app import Studio
from studio.errors import InvalidInput, SlateError
from studio.generation.takes import StoredTake, add_take
from studio.production import shots as production_shots
from studio.production.people import Actor

log = logging.getLogger("slate.takes")


async def upload(studio: Studio, prod: Production, who: Actor, code: str, path: Path, *,
                 original_name: str = "", provenance: Provenance | None = None,
                 prepare: Callable[[Studio, Take], Awaitable[Take]]) -> Take:
    """Store the take, then `prepare` it (its preview and thumbnail: handed in by requests.py,
    which calls this module); a failure there takes the stored take back."""
    before = await production_shots.shot(studio.db, prod, code)
    stored = await add_take(studio, prod, who, code, path, original_name=original_name,
                            provenance=provenance)
    try:
        return await prepare(studio, stored.take)
    except Exception as exc:
        # The user hears the reason; the traceback is for DEBUG (the shell's stderr is theirs).
        log.debug("take %s of shot %s: its preview failed; withdrawing it", stored.take.id,
                  stored.code, exc_info=True)
        await withdraw(studio, prod, who, stored, before.shot.status)
        reason = exc.reason if isinstance(exc, SlateError) else type(exc).__name__
        raise InvalidInput(f"the take could not be prepared for showing ({reason}); "
                           "nothing was added") from None


async def withdraw(studio: Studio, prod: Production, who: Actor, stored: StoredTake,
                   status_before: str) -> None:
    """Take back a stored take that was never shown: rows in one transaction, then files."""
    found = await takes.get(studio.db.reader, stored.take.id) or stored.take
    hashes = {h for h in (found.media_sha256, found.preview_sha256, found.thumbnail_sha256)
              if h}
    async with studio.db.transaction() as tx:
        await takes.delete(tx, found.id)
        shot = await shots.get(tx, found.shot_id)
        if shot is not None and shot.status == "needs_review" and status_before != shot.status \
                and not await takes.of_shot(tx, found.shot_id):
            await shots.update(tx, shot.id, status=status_before)
        unused = hashes - await operations.used_media(tx)
        await operations.delete_media_rows(tx, unused)
        await audit.record(tx, prod.id, who.id, "take", found.id, "withdraw",
                           before={"shot": stored.code, "revision": found.revision})
    for sha in unused:
        mediastore.path_for(studio.settings.media_path, sha).unlink(missing_ok=True)
