"""How sizes and durations read in messages."""

from __future__ import annotations

# SQLite's largest integer: a chapter, shot or take number past it is refused, not overflowed.
MAX_NUMBER = 2**63 - 1


def size_text(n: int) -> str:
    """Bytes as people read them: 812 B, 3.4 KB, 10.5 MB, 1.2 GB (decimal units)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"
