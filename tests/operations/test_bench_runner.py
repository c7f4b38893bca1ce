"""bench/run_all.py gathers every benchmark's figures into one table and never hides a failure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RUN_ALL = Path(__file__).resolve().parents[2] / "bench" / "run_all.py"

GOOD = """
import json
print("cut build: 2.0 s, floor 0.5 s, ratio 4.0")
print(json.dumps({"bench": "cut_build", "figure": 2.0, "floor": 0.5, "ratio": 4.0, "unit": "s"}))
print(json.dumps({"bench": "cut_probe", "figure": 30, "floor": 10, "ratio": 3, "unit": "ms"}))
"""
CRASH = """
import sys
print("starting")
raise SystemExit("fake provider refused the connection")
"""
SILENT = "print('measured something but forgot the summary')\n"
SLOW = "import time\ntime.sleep(30)\n"


def _run(folder: Path, *extra: str) -> tuple[int, str]:
    out = folder / "RESULTS.md"
    done = subprocess.run([sys.executable, str(RUN_ALL), "--dir", str(folder), "--out", str(out),
                           *extra], capture_output=True, text=True, timeout=60, check=False)
    return done.returncode, out.read_text()


def test_every_figure_and_every_failure_is_in_the_table(tmp_path: Path) -> None:
    for name, code in [("bench_good.py", GOOD), ("bench_crash.py", CRASH),
                       ("bench_silent.py", SILENT), ("helper.py", "raise SystemExit(3)")]:
        (tmp_path / name).write_text(code)
    code, report = _run(tmp_path)

    assert code == 1  # a failed benchmark fails `make bench`, after the report is written
    rows = [line for line in report.splitlines() if line.startswith("| ") and "---" not in line]
    table = {row.split("|")[1].strip(): [c.strip() for c in row.split("|")[2:-1]]
             for row in rows[1:]}
    assert table["cut_build"][:5] == ["2", "0.5", "4", "s", "ok"]
    assert table["cut_probe"][:5] == ["30", "10", "3", "ms", "ok"]
    assert table["bench_crash"][4] == "FAILED: exit 1: fake provider refused the connection"
    assert table["bench_silent"][4] == "FAILED: printed no JSON summary line"
    assert "helper" not in report  # only bench_*.py are benchmarks
    assert "- Machine:" in report and "- Python:" in report
    assert "3 scripts, 4 figures, 2 failed" in report


def test_a_hung_benchmark_is_reported_and_the_run_ends(tmp_path: Path) -> None:
    (tmp_path / "bench_slow.py").write_text(SLOW)
    (tmp_path / "bench_good.py").write_text(GOOD)
    code, report = _run(tmp_path, "--timeout", "1")
    assert code == 1
    assert "| bench_slow | — | — | — |  | FAILED: timed out after 1 s |" in report
    assert "| cut_build | 2 | 0.5 | 4 | s | ok |" in report


def test_all_ok_exits_zero(tmp_path: Path) -> None:
    (tmp_path / "bench_good.py").write_text(GOOD)
    code, report = _run(tmp_path)
    assert code == 0
    assert "FAILED" not in report


SOAK = """
import json, sys
seconds = float(sys.argv[sys.argv.index("--seconds") + 1])
print(json.dumps({"bench": "soak_rss_growth", "figure": seconds, "floor": 1.0, "ratio": seconds,
                  "unit": "MiB"}))
"""


def test_the_soak_runs_short_after_the_benchmarks(tmp_path: Path) -> None:
    (tmp_path / "bench_good.py").write_text(GOOD)
    (tmp_path / "soak.py").write_text(SOAK)
    code, report = _run(tmp_path)
    assert code == 0
    assert "| soak_rss_growth | 60 | 1 | 60 | MiB | ok |" in report  # `make bench`: 60 s
    code, report = _run(tmp_path, "--soak-seconds", "5", "soak")
    assert "| soak_rss_growth | 5 |" in report and "cut_build" not in report
    code, report = _run(tmp_path, "--soak-seconds", "0")
    assert "soak_rss_growth" not in report and "cut_build" in report
