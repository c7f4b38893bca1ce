"""Logging: one line per event, tagged with the interaction or job it belongs to, secrets removed.

- Every record carries `event_id` from a context variable: wrap the handling of an interaction
  or a job in `with log_context("interaction", interaction.id):` (or "job", job.id) and every
  line logged inside it, in awaited code too, says `[interaction=123]`. Tasks created inside
  inherit it (asyncio copies the context).
- A traceback stays on its line: newlines are written as `\\n`, so one event is one line.
- Every secret in Settings (each SecretStr field, and passwords inside configured URLs) and any
  Bearer/Token value is replaced by `***` in the message, its arguments, the traceback and
  the stack, whatever logger wrote it (the filter sits on the handler, which every propagated
  record passes); studio.ops.masking.mask does it, the same masking as every user-facing text.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import IO

from studio.ops.masking import mask, remember, secret_values
from studio.ops.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(event_id)s] %(message)s"

event_id: ContextVar[str] = ContextVar("slate_event_id", default="-")


@contextmanager
def log_context(kind: str, ident: object) -> Iterator[str]:
    """Tag every line logged inside the block with `kind=ident` (e.g. interaction=123)."""
    tag = f"{kind}={ident}"
    token = event_id.set(tag)
    try:
        yield tag
    finally:
        event_id.reset(token)


def tag_task(kind: str, ident: object) -> str:
    """Tag every line logged from here to the end of the current asyncio task (its context
    is its own copy, so the tag goes with it); for spans that begin inside a library's task."""
    tag = f"{kind}={ident}"
    event_id.set(tag)
    return tag


class Redactor:
    """studio.ops.masking.mask with a fixed list of secrets (those of the settings logged for)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = [s for s in secrets if s]

    def __call__(self, text: str) -> str:
        return mask(text, self.secrets)


class RedactingFilter(logging.Filter):
    """Replace each secret in a record's message, arguments, traceback and stack by ***."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.redact = Redactor(secrets)
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.event_id = event_id.get()
        try:
            message = record.getMessage()
        except Exception:
            # A bad format string must not lose the event, nor leak its arguments raw.
            message = f"{record.msg!s} {record.args!r}"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class OneLineFormatter(logging.Formatter):
    """The text format, with the traceback kept on the event's line."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__(TEXT_FORMAT)
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "event_id"):
            record.event_id = event_id.get()
        # A second pass over the final line catches a secret in any other attribute.
        return self.redact(super().format(record)).replace("\r", "").replace("\n", "\\n")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "event": getattr(record, "event_id", event_id.get()),
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["traceback"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return self.redact(json.dumps(entry, ensure_ascii=False))


_installed: list[logging.Handler] = []


def setup_logging(settings: Settings, stream: IO[str] | None = None) -> logging.Handler:
    """Send every logger's records, redacted, one line each, to `stream` (default stderr).

    Calling it again replaces the handler it installed before (tests, and a reload).
    For discord.py, start the client with `log_handler=None` so it keeps to this handler.
    """
    root = logging.getLogger()
    for old in _installed:
        root.removeHandler(old)
    _installed.clear()

    remember(settings)
    secrets = secret_values(settings)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(RedactingFilter(secrets))
    redact = Redactor(secrets)
    handler.setFormatter(JsonFormatter(redact) if settings.log_format == "json"
                         else OneLineFormatter(redact))
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    logging.captureWarnings(True)
    _installed.append(handler)
    return handler
