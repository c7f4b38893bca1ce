"""The shell's review commands: the same rules as Discord, printed for a terminal."""

from __future__ import annotations

from pathlib import Path

import pytest

import shell

EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "low_tide.csv"


def test_review_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SLATE_DATA_DIR", str(tmp_path / "data"))
    assert shell.main(["init"]) == 0
    assert shell.main(["import-shots", str(EXAMPLE)]) == 0
    assert shell.main(["review-settings", "--quorum", "2", "--owner-may-approve", "1"]) == 0
    out = capsys.readouterr().out
    assert "quorum: 2" in out and "owner-may-approve: 1" in out

    assert shell.main(["approve", "1.1r1"]) == 1
    assert "shot 1.1 has no take r1" in capsys.readouterr().err
    assert shell.main(["vote-close", "1.1"]) == 1
    assert "no vote running" in capsys.readouterr().err
    assert shell.main(["review-settings", "--producer-weight", "0"]) == 1
    assert "producer_weight must be between" in capsys.readouterr().err

    assert shell.main(["retake", "1.2", "the tide comes in too early"]) == 0
    assert "shot 1.2 sent back" in capsys.readouterr().out
    assert shell.main(["vote-status", "1.2"]) == 0
    assert "never put to the vote" in capsys.readouterr().out
    assert shell.main(["review-queue"]) == 0
    assert "0 shot(s) waiting" in capsys.readouterr().out
