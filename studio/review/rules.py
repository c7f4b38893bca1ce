"""The production's review rules: quorum, margin, window length, who may approve.
"""

from __future__ import annotations

from storage import (
    audit,
    review_settings,
)
from storage.db import Database
from storage.productions import Production
from storage.review_settings import ReviewSettings
from studio.errors import InvalidInput, NotPermitted
from studio.production.people import Actor

MAX_HOURS = 24 * 30



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
