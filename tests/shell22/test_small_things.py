"""Issue 22 item 12 (the shell's part): refusals name shell commands, a closed pipe is not a
traceback, and a cut whose build was killed shows as interrupted at once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.shell22.helpers import ROOT, one_line, shell


def test_a_shell_refusal_names_the_shell_command(tmp_path: Path) -> None:
    assert one_line(shell(tmp_path, "chapters"), 1) == \
        "slate: there is no production here yet: a server manager runs `python bot.py init`"
    assert shell(tmp_path, "init").returncode == 0
    assert "`python bot.py notion-connect`" in one_line(shell(tmp_path, "notion-sync"), 1)


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path) -> None:
    assert shell(tmp_path, "init").returncode == 0
    assert shell(tmp_path, "import-shots", str(ROOT / "examples" / "low_tide.csv")).returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLATE_")}
    env["SLATE_DATA_DIR"] = str(tmp_path / "data")
    # `| head -0`: the reader is gone before the first line is written.
    reader, writer = os.pipe()
    os.close(reader)
    done = subprocess.run([sys.executable, str(ROOT / "bot.py"), "chapter", "1"], cwd=tmp_path,
                          env=env, stdout=writer, stderr=subprocess.PIPE, text=True, timeout=60)
    os.close(writer)
    assert done.stderr == "" and done.returncode == 141


def _cut_states(data: Path) -> list[str]:
    with sqlite3.connect(data / "slate.db") as db:
        return [row[0] for row in db.execute("SELECT state FROM cut ORDER BY id")]


def test_a_killed_build_shows_as_interrupted_at_once(tmp_path: Path) -> None:
    assert shell(tmp_path, "init").returncode == 0
    assert shell(tmp_path, "import-shots", str(ROOT / "examples" / "low_tide.csv")).returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLATE_")}
    env["SLATE_DATA_DIR"] = str(tmp_path / "data")
    build = subprocess.Popen([sys.executable, str(ROOT / "bot.py"), "cut", "--quiet"],
                             cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "data" / "slate.db").exists() or \
                _cut_states(tmp_path / "data") != ["building"]:
            assert build.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        os.killpg(build.pid, signal.SIGKILL)  # the build and its ffmpeg children, mid-build
        build.wait()
    listed = shell(tmp_path, "cuts")
    assert listed.returncode == 0, listed.stderr
    line = next(x for x in listed.stdout.splitlines() if x.startswith("cut    1"))
    assert "building" not in line and "interrupted" in line, listed.stdout
