"""A production's review rules: quorum, margin, whose votes count and who may approve."""

from __future__ import annotations

from dataclasses import dataclass

from storage.rows import Conn, fetch_one, now


@dataclass(frozen=True)
class ReviewSettings:
    production_id: int
    quorum: int
    margin: float
    creator_votes_count: int
    producer_weight: float
    owner_may_approve: int
    vote_hours: float
    updated_at: str = ""


EDITABLE = ("quorum", "margin", "creator_votes_count", "producer_weight", "owner_may_approve",
            "vote_hours")


def defaults(production_id: int) -> ReviewSettings:
    """The values a new row gets (the migration's column defaults)."""
    return ReviewSettings(production_id, quorum=3, margin=1.0, creator_votes_count=0,
                          producer_weight=1.0, owner_may_approve=0, vote_hours=48.0)


async def get(conn: Conn, production_id: int) -> ReviewSettings | None:
    return await fetch_one(conn, ReviewSettings,
                           "SELECT * FROM review_settings WHERE production_id = ?",
                           (production_id,))


async def put(conn: Conn, production_id: int, **values: object) -> ReviewSettings:
    """Create the row with these values, or change only the values given."""
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    await conn.execute(
        "INSERT INTO review_settings (production_id, updated_at) VALUES (?, ?)"
        " ON CONFLICT (production_id) DO NOTHING", (production_id, now()))
    if values:
        assignments = ", ".join(f"{name} = ?" for name in values)
        await conn.execute(
            f"UPDATE review_settings SET {assignments}, updated_at = ? WHERE production_id = ?",
            (*values.values(), now(), production_id))
    found = await get(conn, production_id)
    assert found is not None
    return found
