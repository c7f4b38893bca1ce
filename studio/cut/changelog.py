"""What changed since the previous cut, as the cuts channel and the screening page read it.
"""

from __future__ import annotations

from storage.cuts import Cut
from studio.cut.plan import BrokenStem, BrokenTake
from studio.cut.timeline import Timeline


def changelog(line: Timeline, previous: Cut | None, version: int,
              broken: list[BrokenTake], broken_stems: list[BrokenStem] | None = None) -> str:
    """What changed since the previous cut: shots newly approved, runtime, percent complete."""
    shots = line.shots
    approved = {e.code: e.take_id for e in shots if e.kind == "take"}
    before: dict[str, int | None] = {}
    before_duration = 0.0
    if previous is not None:
        data = previous.timeline_data
        before = {e["code"]: e["take_id"] for e in data.get("entries", [])
                  if e["kind"] == "take"}
        before_duration = float(data.get("duration", 0.0))
    new = [e for e in shots if e.kind == "take" and before.get(e.code) is None]
    changed = [e for e in shots if e.kind == "take" and before.get(e.code) not in (None,
                                                                                   e.take_id)]
    lost = [code for code in before if code not in approved]
    percent = 100.0 * len(approved) / len(shots) if shots else 0.0
    lines = [f"# {line.production_title} — cut {version}", "",
             f"- runtime: {clock(line.duration)}"
             + (f" (was {clock(before_duration)})" if previous else ""),
             f"- complete: {len(approved)}/{len(shots)} shots approved ({percent:.0f}%)"]
    if previous is None:
        lines.append("- first cut")
    else:
        lines.append(f"- since cut {previous.version}: {len(new)} newly approved, "
                     f"{len(changed)} re-approved, {len(lost)} no longer approved")
    for e in new:
        lines.append(f"  - new: shot {e.code} take r{e.take_revision} ({e.owner or 'open'})")
    for e in changed:
        lines.append(f"  - changed: shot {e.code} now take r{e.take_revision}")
    for code in lost:
        lines.append(f"  - slate again: shot {code}")
    for b in broken:
        lines.append(f"- BROKEN: shot {b.code} take {b.take_id} ({b.owner or 'open'}) "
                     f"shown as a slate: {b.reason}")
    for s in broken_stems or []:
        lines.append(f"- BROKEN: chapter {s.chapter}'s {s.kind} stem ({s.owner or 'open'}) "
                     f"left out: {s.reason}")
    return "\n".join(lines) + "\n"



def clock(seconds: float) -> str:
    """A running time as an editor writes it: 2:41.0, or 1:52:07.5 for a feature."""
    whole = int(seconds)
    hours, minutes = divmod(whole // 60, 60)
    tenths = int((seconds - whole) * 10)
    if hours:
        return f"{hours}:{minutes:02d}:{whole % 60:02d}.{tenths}"
    return f"{minutes}:{whole % 60:02d}.{tenths}"
