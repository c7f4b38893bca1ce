"""The shell's take, stem, generate, jobs, budget and character commands: what a producer at a
terminal reads back, and the one-line reason (exit 1) when something is refused."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

import shell
from tests import media_kit

EXAMPLE = Path(__file__).parent.parent.parent / "examples" / "low_tide.csv"

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> Run:
    """`run("take", "add", ...)`: (exit status, what it printed, its error line(s)), the way
    `python bot.py ...` runs it, on a production with the example shot list."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("SLATE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SLATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SLATE_GENERATION_BUDGET", "5")

    def slate(*args: str) -> tuple[int, str, str]:
        code = shell.main(list(args))
        printed = capsys.readouterr()
        # Log lines go to stderr too; the user's reason is the line the shell prints itself.
        reasons = [ln for ln in printed.err.splitlines() if ln.startswith("slate: ")]
        return code, printed.out, "\n".join(reasons)

    assert slate("init", "--title", "Low Tide")[0] == 0
    assert slate("import-shots", str(EXAMPLE))[0] == 0
    assert slate("--new-member", "--as", "Maya", "claim", "1")[0] == 0
    return slate


def test_take_and_stem_add_store_what_the_terminal_reports(run: Run, tmp_path: Path) -> None:
    clip = media_kit.video(tmp_path / "pier.mp4", seconds=1, size="160x90")
    code, out, _ = run("--as", "Maya", "take", "add", "--shot", "1.1", str(clip))
    assert code == 0
    # The take, then its line in the shot's lineage (an upload with no declared tool or cost).
    assert re.fullmatch(r"take \d+: shot 1\.1 revision 1 \(video\), sha256 [0-9a-f]{12}\n"
                        r"  r1 video · uploaded · \$0\.00\n", out)
    again = run("--as", "Maya", "take", "add", "--shot", "1.1", str(clip))
    assert again[0] == 0 and "shot 1.1 revision 2 (video)" in again[1]

    assert run("take", "add", "--shot", "1.1", str(tmp_path / "nowhere.mp4")) == \
        (1, "", f"slate: cannot read {tmp_path / 'nowhere.mp4'}")
    assert run("take", "add", "--shot", "9.9", str(clip)) == (1, "", "slate: there is no shot 9.9")

    voice = media_kit.tone(tmp_path / "旁白.wav", seconds=1)
    code, out, _ = run("--as", "Maya", "stem", "add", "--chapter", "1", "--kind", "vo",
                       str(voice))
    assert code == 0
    assert re.fullmatch(r"stem \d+: chapter 1 vo, sha256 [0-9a-f]{12}\n", out)
    # A stem is audio: a video is refused with the reason.
    assert run("--as", "Maya", "stem", "add", "--chapter", "1", "--kind", "sfx", str(clip)) == \
        (1, "", "slate: the file is video; expected audio")
    # Someone else's chapter: only its owner or a producer (the shell is the producer's own
    # terminal, so --as names whose upload it is, with the producer's rights).
    code, out, _ = run("--new-member", "--as", "Jonas", "stem", "add", "--chapter", "2",
                       "--kind", "music", str(voice))
    assert code == 0 and "chapter 2 music" in out
    assert run("stem", "add", "--chapter", "99", "--kind", "vo", str(voice)) == \
        (1, "", "slate: there is no chapter 99")


def test_generate_then_jobs_budget_and_a_refused_cancel(run: Run) -> None:
    code, out, _ = run("--as", "Maya", "generate", "--shot", "1.2",
                       "--prompt", "海鸥 over the pier", "--seed", "7")
    assert code == 0, out
    made = re.fullmatch(r"take \d+: shot 1\.2 revision 1 \(image\) by animatic, seed 7, "
                        r"cost \$0\.00\n", out)
    assert made, out

    code, out, _ = run("jobs")
    assert code == 0
    [line] = [ln for ln in out.splitlines() if "animatic" in ln]
    job_id = int(line.split()[0])
    assert line.split()[1:5] == ["image", "animatic", "succeeded", "100%"]
    assert out.splitlines()[-1] == "1 jobs"
    assert run("jobs", "--open")[1] == "0 jobs\n"

    assert run("jobs", "--cancel", str(job_id)) == \
        (1, "", f"slate: job {job_id} is already succeeded")
    assert run("jobs", "--cancel", "99999") == (1, "", "slate: there is no job 99999")

    code, out, _ = run("budget")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "spent $0.00 of $5.00 on generation"
    assert lines[1].split() == ["Maya", "animatic", "1", "jobs", "$0.00"]


def test_characters_are_added_listed_and_shown(run: Run, tmp_path: Path) -> None:
    still = media_kit.image(tmp_path / "mara.png", size="64x64")
    code, out, _ = run("character", "add", "Mara", "--trigger", "红色外套, freckles",
                       "--lora", "mara_v2", "--ref", str(still), "--voice", "v-0042")
    assert (code, out) == (0, "character @Mara added\n")
    assert run("character", "add", "Mara")[2] == "slate: there is already a character named Mara"
    assert run("character", "add", "9lives") == (1, "", (
        "slate: a character's name is 1 to 40 letters (of any script), digits, '-' or '_', "
        "starting with a letter (it is written @Name in prompts)"))
    assert run("character", "add", "Pell", "--ref", str(tmp_path / "nowhere.png")) == \
        (1, "", "slate: the file could not be read")
    assert run("character", "add", "Pell")[0] == 0

    code, out, _ = run("character", "list")
    assert code == 0
    assert [ln.split()[0] for ln in out.splitlines()] == ["@Mara", "@Pell"]
    assert "红色外套, freckles" in out

    code, out, _ = run("character", "show", "Mara")
    assert code == 0
    assert out.splitlines() == ["@Mara", "  trigger words: 红色外套, freckles", "  LoRA: mara_v2",
                                "  reference images: 1", "  voice: v-0042"]
    assert run("character", "show", "Nobody") == \
        (1, "", "slate: there is no character named Nobody")
