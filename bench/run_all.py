"""Run every bench/bench_*.py and write bench/RESULTS.md: one table of figure, floor and ratio.

Then bench/soak.py runs for a short while (--soak-seconds, default 60; 0 skips it) and its
RSS figure joins the table; `python bench/soak.py --seconds 600` is the long soak.

Each benchmark prints, as its last lines, one JSON object per figure:
    {"bench": "...", "figure": 1.23, "floor": 0.45, "ratio": 2.73, "unit": "ms"}
A benchmark that exits non-zero, times out or prints no such line is a row marked FAILED with
its reason; the run then exits 1, after the report is written.

Usage: python bench/run_all.py [--dir bench] [--out bench/RESULTS.md] [--timeout 900]
                               [--soak-seconds 60] [NAME...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


@dataclass(frozen=True)
class Row:
    script: str
    bench: str
    figure: float | None
    floor: float | None
    ratio: float | None
    unit: str
    seconds: float
    failure: str = ""


def parse_figures(stdout: str) -> list[dict]:
    """The JSON summary lines a benchmark printed (any line that is an object with "bench")."""
    found = []
    for line in stdout.splitlines():
        line = line.strip()
        if not (line.startswith("{") and line.endswith("}")):
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and "bench" in entry:
            found.append(entry)
    return found


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def run_one(script: Path, timeout: float, args: tuple[str, ...] = ()) -> list[Row]:
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    try:
        done = subprocess.run([sys.executable, str(script), *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return [Row(script.name, script.stem, None, None, None, "", time.perf_counter() - started,
                    f"timed out after {timeout:g} s")]
    seconds = time.perf_counter() - started
    sys.stderr.write(done.stderr)
    sys.stdout.write(done.stdout)
    figures = parse_figures(done.stdout)
    if done.returncode != 0:
        reason = _last_line(done.stderr) or _last_line(done.stdout) or "no output"
        return [Row(script.name, script.stem, None, None, None, "", seconds,
                    f"exit {done.returncode}: {reason}")]
    if not figures:
        return [Row(script.name, script.stem, None, None, None, "", seconds,
                    "printed no JSON summary line")]
    rows = []
    for entry in figures:
        figure, floor = _number(entry.get("figure")), _number(entry.get("floor"))
        ratio = _number(entry.get("ratio"))
        if ratio is None and figure is not None and floor:
            ratio = figure / floor
        missing = [k for k, v in (("figure", figure), ("floor", floor), ("ratio", ratio))
                   if v is None]
        rows.append(Row(script.name, str(entry["bench"]), figure, floor, ratio,
                        str(entry.get("unit", "")), seconds,
                        f"summary lacks {', '.join(missing)}" if missing else ""))
    return rows


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if value == 0 or 0.001 <= abs(value) < 100000:
        return f"{value:.4g}"
    return f"{value:.3e}"


def machine() -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return [
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {cpu}, {os.cpu_count()} CPUs" + (f", {memory} memory" if memory else ""),
        f"- System: {platform.system()} {platform.release()}",
        f"- Python: {platform.python_version()} ({platform.python_implementation()})",
    ]


def render(rows: list[Row]) -> str:
    failed = [r for r in rows if r.failure]
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (bench/run_all.py). Each figure is measured with its floor "
        "(the bare operation) in the same run; ratio = figure / floor: for times lower is "
        "better, for rates (per second) higher is better.",
        "",
        *machine(),
        f"- Benchmarks: {len({r.script for r in rows})} scripts, {len(rows)} figures, "
        f"{len(failed)} failed",
        "",
        "| benchmark | figure | floor | ratio | unit | status | run (s) |",
        "|---|---:|---:|---:|---|---|---:|",
    ]
    for r in rows:
        status = f"FAILED: {r.failure}".replace("|", "\\|") if r.failure else "ok"
        lines.append(f"| {r.bench} | {_fmt(r.figure)} | {_fmt(r.floor)} | {_fmt(r.ratio)} "
                     f"| {r.unit} | {status} | {r.seconds:.1f} |")
    if not rows:
        lines.append("| (no benchmarks found) | — | — | — | | | |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=HERE)
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--timeout", type=float,
                        default=float(os.environ.get("SLATE_BENCH_TIMEOUT", "900")))
    parser.add_argument("--soak-seconds", type=float,
                        default=float(os.environ.get("SLATE_SOAK_SECONDS", "60")),
                        help="how long the soak runs (0: not at all)")
    parser.add_argument("names", nargs="*", help="run only these (e.g. bench_cut, soak)")
    args = parser.parse_args(argv)

    scripts = sorted(args.dir.glob("bench_*.py"))
    if args.names:
        scripts = [s for s in scripts if s.stem in args.names or s.name in args.names]
    rows: list[Row] = []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        # The feature-length bench builds a 90-minute film twice over: it gets an hour.
        timeout = max(args.timeout, 3600) if script.stem == "bench_feature" else args.timeout
        rows.extend(run_one(script, timeout))
    soak = args.dir / "soak.py"
    if soak.exists() and args.soak_seconds > 0 and (not args.names or "soak" in args.names):
        print(f"== {soak.name} ({args.soak_seconds:g} s)", flush=True)
        # The soak stops by itself; the timeout only catches one that hangs in its checks.
        rows.extend(run_one(soak, args.soak_seconds + args.timeout,
                            ("--seconds", f"{args.soak_seconds:g}")))
    report = render(rows)
    args.out.write_text(report, encoding="utf-8")
    print(report)
    print(f"written to {args.out}")
    return 1 if any(r.failure for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
