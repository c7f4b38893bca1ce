"""Issue 22 item 15: one-line refusals, never a traceback nor an unbounded read."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.shell22.helpers import ROOT, one_line, shell

HUGE = "9223372036854775808"  # 2**63: one past SQLite's integers


@pytest.fixture
def made(tmp_path: Path) -> Path:
    assert shell(tmp_path, "init").returncode == 0
    imported = shell(tmp_path, "import-shots", str(ROOT / "examples" / "low_tide.csv"))
    assert imported.returncode == 0, imported.stderr
    return tmp_path


def test_import_shots_checks_the_file_before_reading_it(made: Path) -> None:
    big = made / "big.csv"
    with big.open("wb") as handle:  # sparse: 1.5 GB on paper, nothing on disk
        handle.truncate(1_500_000_000)
    assert one_line(shell(made, "import-shots", str(big)), 1) == \
        "slate: the file is 1.5 GB; a shot list may be at most 4.2 MB"
    assert one_line(shell(made, "import-shots", "/dev/zero"), 1) == \
        "slate: zero is not a regular file"
    fifo = made / "shots.fifo"
    os.mkfifo(fifo)
    assert one_line(shell(made, "import-shots", str(fifo), timeout=30), 1) == \
        "slate: shots.fifo is not a regular file"


def test_deep_json_and_huge_numbers_in_a_shot_list(made: Path) -> None:
    deep = made / "deep.json"
    deep.write_text('[{"chapter": 1, "shot": 1, "description": "x", "duration": 2, '
                    '"notes": ' + "[" * 100_000 + "]" * 100_000 + "}]")
    assert one_line(shell(made, "import-shots", str(deep)), 1) == \
        "slate: line 1: the JSON is nested too deeply for a shot"
    huge = made / "huge.json"
    huge.write_text(json.dumps([{"chapter": int(HUGE), "shot": 1, "description": "x",
                                 "duration": 2}]))
    assert one_line(shell(made, "import-shots", str(huge)), 1) == \
        f"slate: line 1, field 'chapter': '{HUGE}' is too large (at most {int(HUGE) - 1})"
    csv = made / "huge.csv"
    csv.write_text(f"chapter,shot,description,duration\n1,{HUGE},x,2\n")
    assert "field 'shot': '9223372036854775808' is too large" in \
        one_line(shell(made, "import-shots", str(csv)), 1)
    assert "0/40 shots approved" in shell(made, "chapters").stdout  # nothing changed


@pytest.mark.parametrize(("args", "reason"), [
    (("claim", HUGE), f"there is no chapter {HUGE}"),
    (("chapter", HUGE), f"there is no chapter {HUGE}"),
    (("vote-status", f"1.{HUGE}"), f"'1.{HUGE}' is not a shot"),
    (("take", "add", "--shot", f"{HUGE}.1", "take.png"), f"'{HUGE}.1' is not a shot"),
])
def test_numbers_past_sqlite_are_refused(made: Path, args: tuple[str, ...],
                                         reason: str) -> None:
    (made / "take.png").write_bytes(b"not read before the shot is found")
    assert one_line(shell(made, "--new-member", "--as", "Maya", *args), 1).startswith(
        f"slate: {reason}")


def test_an_unusable_data_dir_and_a_non_utf8_env(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    assert one_line(shell(tmp_path, "chapters", data=tmp_path / "a-file" / "data"), 2) == \
        f"slate: SLATE_DATA_DIR {tmp_path / 'a-file' / 'data'} cannot be used: Not a directory"
    (tmp_path / ".env").write_bytes("SLATE_TIMEZONE=Asia/Shanghai\n# 片场\n".encode("gb18030"))
    assert one_line(shell(tmp_path, "chapters"), 2).startswith(
        "slate: the .env file is not UTF-8 text (byte 0xb3 at offset 33)")
