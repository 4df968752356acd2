"""`make bench`: every benchmark on the real stack, one after the other, then the report.

    .venv/bin/python -m bench.run [--quick] [--out docs/benchmarks] [--submissions N] [--runs N] [--only a,b]

Each benchmark runs as its own process (bench/<module>.py) and writes its section into
`<out>/sections/`; bench/report.py then writes `<out>/report.md`, `report.json` and `throughput.png`.
The full run also refreshes credentials.md, grading.md and similarity.md (bench_credentials.py,
bench_grading.py, bench_similarity.py).
`--quick` runs small counts for a smoke run (minutes, not the figures to quote).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")


def plan(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    quick = args.quick
    runs = args.runs or (2 if quick else 20)
    submissions = args.submissions or (6 if quick else 200)
    out = ["--out", str(args.out)]
    steps = [
        ("overhead", ["-m", "bench.overhead", "--runs", str(runs), "--service-runs", str(min(runs, 10)), *out]),
        ("throughput", ["-m", "bench.throughput", "--submissions", str(submissions), "--workers", "1,2,4", *out]),
        ("api", ["-m", "bench.api_load", "--seconds", "5" if quick else "30", "--healthz-seconds",
                 "3" if quick else "10", *out]),
        ("credentials", ["-m", "bench.credential_rates", "--rounds", "2" if quick else "5", "--seconds",
                         "0.3" if quick else "1", *out]),
        ("images", ["-m", "bench.images", "--cold", "1" if quick else "3", "--cached", "3" if quick else "10", *out]),
        ("bridge", ["-m", "bench.bridge", "--rounds", "1" if quick else "7", *out]),
    ]
    if not quick:
        steps += [
            ("credentials-stages", ["bench/bench_credentials.py", "--out", str(args.out)]),
            ("grading", ["bench/bench_grading.py", "--rounds", "3", "--out", str(args.out)]),
            ("similarity", ["bench/bench_similarity.py", "--out", str(args.out)]),
        ]
    if args.only:
        wanted = set(args.only.split(","))
        steps = [step for step in steps if step[0] in wanted]
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description="Run every benchmark, then write the report")
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    parser.add_argument("--runs", type=int, default=0, help="pairs per overhead figure (default 20; quick 2)")
    parser.add_argument("--submissions", type=int, default=0, help="throughput's queue (default 200; quick 6)")
    parser.add_argument("--only", default="", help="comma-separated steps to run (the rest keep their sections)")
    args = parser.parse_args()
    command = "make bench-quick" if args.quick else "make bench"
    extra = [f"--{name} {value}" for name, value in (("runs", args.runs), ("submissions", args.submissions)) if value]
    if args.only:
        extra.append(f"--only {args.only}")
    if extra:
        command = f".venv/bin/python -m bench.run {'--quick ' if args.quick else ''}{' '.join(extra)}"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=False).stdout.strip()  # fmt: skip
    if not args.only:  # a whole run: no section of an earlier run may stand in for a failed one
        for old in (args.out / "sections").glob("*.json"):
            old.unlink()
    failed = []
    for name, step in plan(args):
        started = time.monotonic()
        print(f"== {name}: {' '.join(step)}", flush=True)
        done = subprocess.run([PYTHON, *step], cwd=ROOT, check=False)
        print(f"== {name}: exit {done.returncode} after {time.monotonic() - started:.0f} s", flush=True)
        if done.returncode != 0:
            failed.append(name)
    report = [PYTHON, "-m", "bench.report", "--out", str(args.out), "--command", command, "--commit", commit]
    subprocess.run(report, cwd=ROOT, check=True)
    if failed:
        sys.exit(f"benchmarks that failed (their sections are missing or stale): {', '.join(failed)}")


if __name__ == "__main__":
    main()
