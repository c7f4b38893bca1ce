"""The shell: producers run the same operations from a terminal, with clear exits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def slate(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SLATE_")
               and k not in {"DISCORD_TOKEN", "NOTION_TOKEN"}}
    environ.update({"SLATE_DATA_DIR": str(tmp_path / "data"), **(env or {})})
    return subprocess.run([sys.executable, str(ROOT / "bot.py"), *args], cwd=tmp_path,
                          env=environ, capture_output=True, text=True, timeout=120)


def test_a_producer_session(tmp_path: Path) -> None:
    assert slate(tmp_path, "init", "--title", "Low Tide").returncode == 0
    imported = slate(tmp_path, "import-shots", str(ROOT / "examples" / "low_tide.csv"))
    assert imported.returncode == 0, imported.stderr
    assert "40 shots added" in imported.stdout

    assert slate(tmp_path, "--new-member", "--as", "Maya", "claim", "3").returncode == 0
    refused = slate(tmp_path, "--new-member", "--as", "Jonas", "claim", "3")
    assert refused.returncode == 1
    assert refused.stderr.strip() == "slate: chapter 3 is already claimed by Maya"

    assert slate(tmp_path, "assign", "4", "Jonas").returncode == 0
    assert slate(tmp_path, "due", "4", "2027-02-01").returncode == 0
    board = slate(tmp_path, "chapters")
    assert "The Village" in board.stdout and "Maya" in board.stdout
    assert "2027-02-01" in board.stdout and "0/40 shots approved" in board.stdout

    backup = slate(tmp_path, "backup", str(tmp_path / "copy.db"))
    assert backup.returncode == 0 and (tmp_path / "copy.db").stat().st_size > 0


def test_a_bad_shot_list_names_its_line(tmp_path: Path) -> None:
    slate(tmp_path, "init")
    bad = tmp_path / "shots.csv"
    bad.write_text("chapter,shot,description,duration\n1,1,ok,3\n1,2,bad,three\n")
    result = slate(tmp_path, "import-shots", str(bad))
    assert result.returncode == 1
    assert "line 3, field 'duration': 'three' is not a number of seconds" in result.stderr
    assert "0/0 shots approved" in slate(tmp_path, "chapters").stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [({}, "DISCORD_TOKEN is not set"),
     ({"SLATE_MAX_CHAPTERS_PER_CREATOR": "x"}, "invalid setting SLATE_MAX_CHAPTERS_PER_CREATOR")],
)
def test_start_up_problems_are_one_line_and_exit_2(
    tmp_path: Path, env: dict, message: str
) -> None:
    result = slate(tmp_path, env=env)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_take_add_keeps_the_provenance_and_take_list_shows_the_chain(tmp_path: Path) -> None:
    from tests.fakes.providers.common import sample_png

    slate(tmp_path, "init")
    slate(tmp_path, "import-shots", str(ROOT / "examples" / "low_tide.csv"))
    assert slate(tmp_path, "--new-member", "--as", "Maya", "claim", "1").returncode == 0
    (tmp_path / "a.png").write_bytes(sample_png())
    (tmp_path / "b.png").write_bytes(sample_png(128, 72))
    first = slate(tmp_path, "--as", "Maya", "take", "add", "--shot", "1.1", "a.png",
                  "--tool", "midjourney", "--prompt", "夜の港、霧", "--seed", "42",
                  "--cost", "0.25")
    assert first.returncode == 0, first.stderr
    second = slate(tmp_path, "--as", "Maya", "take", "add", "--shot", "1.1", "b.png",
                   "--tool", "Magnific", "--based-on", "1", "--cost", "0.5",
                   "--source-url", "https://magnific.ai/j/9")
    assert second.returncode == 0, second.stderr
    listed = slate(tmp_path, "--as", "Maya", "take", "list", "--shot", "1.1").stdout
    assert "r1 image · Midjourney · seed 42 · $0.25" in listed and "夜の港、霧" in listed
    assert "r2 image · Magnific ← r1 image · Midjourney · $0.50 · https://magnific.ai/j/9" \
        in listed
    budget = slate(tmp_path, "budget").stdout
    assert "Maya" in budget and "Magnific" in budget and "$0.75" in budget
