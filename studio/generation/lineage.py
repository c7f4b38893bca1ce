"""Lineage: which take each take of a shot was made from (an upscale, an animation, an
uploaded upscale of r1), as chains from the take back to the first it grew out of."""

from __future__ import annotations

from dataclasses import dataclass

from storage import takes
from storage.productions import Production
from storage.takes import Take
from studio.app import Studio
from studio.production import shots as production_shots


@dataclass(frozen=True)
class TakeLine:
    """A take and the takes it came from, nearest first (empty: made from nothing)."""

    take: Take
    ancestors: tuple[Take, ...]

    @property
    def tool(self) -> str:
        return self.take.provider or self.take.source

    def chain_text(self) -> str:
        """'r3 video · Runway ← r2 image · Magnific ← r1 image · Midjourney'."""
        return " ← ".join(f"r{t.revision} {t.kind} · {t.provider or t.source}"
                          for t in (self.take, *self.ancestors))


def ancestors_of(take: Take, by_id: dict[int, Take]) -> tuple[Take, ...]:
    found: list[Take] = []
    seen = {take.id}
    here = take
    while here.based_on is not None and here.based_on in by_id and here.based_on not in seen:
        here = by_id[here.based_on]
        seen.add(here.id)  # a loop cannot be made (a take names an older one), but never spin
        found.append(here)
    return tuple(found)


async def of_shot(studio: Studio, prod: Production, code: str) -> list[TakeLine]:
    """Every take of the shot with its chain, in revision order."""
    ref = await production_shots.shot(studio.db, prod, code)
    shot_takes = await takes.of_shot(studio.db.reader, ref.shot.id)
    by_id = {t.id: t for t in shot_takes}
    return [TakeLine(t, ancestors_of(t, by_id)) for t in shot_takes]
