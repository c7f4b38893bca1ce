"""`python bot.py …` for the crash tests, with an optional pause at a named point.

SLATE_TEST_PAUSE_AT=previews stops the worker right after the take is stored, before its
previews and the job's closing: it writes the take id to SLATE_TEST_SIGNAL and sleeps until
the test kills it. The hook lives here, never in production code.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from storage.takes import Take  # noqa: E402
from studio.app import Studio  # noqa: E402
from studio.generation import requests  # noqa: E402

if os.environ.get("SLATE_TEST_PAUSE_AT") == "previews":
    async def _stalled(studio: Studio, take: Take) -> Take:
        await asyncio.to_thread(Path(os.environ["SLATE_TEST_SIGNAL"]).write_text, str(take.id))
        await asyncio.sleep(3600)  # the test kills the process here
        return take

    requests.attach_previews = _stalled  # type: ignore[assignment]

import bot  # noqa: E402

sys.exit(bot.main(sys.argv[1:]))
