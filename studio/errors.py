"""Refusals with a reason a user can read. Cogs show `reason` ephemerally; the CLI prints it."""

from __future__ import annotations


class SlateError(Exception):
    """A refusal: nothing changed, and `reason` says why in one short sentence."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class NotFound(SlateError):
    """The thing named does not exist (in this production)."""


class NotPermitted(SlateError):
    """The user lacks the role or ownership the action needs."""


class ClaimRefused(SlateError):
    """A claim, release, assignment or transfer that the rules forbid."""


class InvalidInput(SlateError):
    """A value out of range or malformed (a date, a duration, a status)."""


class ShotListError(SlateError):
    """A shot list that cannot be imported; names the line and field when there is one."""

    def __init__(self, reason: str, *, line: int | None = None, field: str | None = None):
        where = []
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {reason}" if where else reason)
        self.line = line
        self.field = field
