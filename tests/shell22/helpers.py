"""The shell run as a user runs it, in its own process, its memory capped (an unbounded read
must fail the test, not the machine)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent
MEMORY_CAP = 1 << 30  # the shell needs about a third of this


def _cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def shell(cwd: Path, *args: str, env: dict | None = None, data: Path | None = None,
          timeout: float = 60) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SLATE_")
               and k not in {"DISCORD_TOKEN", "NOTION_TOKEN", "RUNWAYML_API_SECRET",
                             "REPLICATE_API_TOKEN", "ELEVENLABS_API_KEY"}}
    environ.update({"SLATE_DATA_DIR": str(data or cwd / "data"), **(env or {})})
    return subprocess.run([sys.executable, str(ROOT / "bot.py"), *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=timeout, preexec_fn=_cap)


def one_line(result: subprocess.CompletedProcess, code: int) -> str:
    """The refusal's single line (asserting the exit code and that no traceback came)."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]
