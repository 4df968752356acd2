"""Benchmark: one grade of a 10-test suite, isolated unit mode beside the in-process mode and beside
the bare `docker run` floor of the same image, files and runtime; and the bridge's cost per call and
per test. Real stack: the Docker engine, the runner image, the sandbox, the judge.

Each round measures every variant once, interleaved (floor, in-process, isolated, ...), so machine
noise hits all alike; the table prints medians and ratios of medians.

    .venv/bin/python bench/bench_grading.py [--rounds 7] [--runtimes runsc,runc] [--out docs/benchmarks]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.config import Settings  # noqa: E402
from grader.core.result import GradingResult  # noqa: E402
from grader.core.spec import LoadedAssignment, load_assignment  # noqa: E402
from grader.fetch.repository import Snapshot  # noqa: E402
from grader.grading.pipeline import grade_snapshot  # noqa: E402
from grader.grading.stopwatch import Stopwatch, no_progress  # noqa: E402
from grader.sandbox.engine import available_runtimes  # noqa: E402
from grader.sandbox.images import assignment_image  # noqa: E402

TEN = ROOT / "bench" / "assignments" / "py-ten"
CALLS = ROOT / "bench" / "assignments" / "py-calls"
CALLS_PER_TEST = 500


def with_mode(source: Path, mode: str, work: Path) -> LoadedAssignment:
    target = work / f"{source.name}-{mode}"
    if not target.exists():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("solution"))
        spec = yaml.safe_load((target / "assignment.yaml").read_text())
        spec["mode"] = mode
        if mode == "unit-inprocess":  # never issues: a spec with a credential block is refused in this mode
            spec.pop("credential", None)
        (target / "assignment.yaml").write_text(yaml.safe_dump(spec))
    return load_assignment(target)


def snapshot_of(source: Path) -> Snapshot:
    path = (source / "solution").resolve() if (source / "solution").exists() else (TEN / "solution").resolve()
    return Snapshot(url="http://bench.invalid/x.git", commit="0" * 40, ref=None, path=path, files=1, bytes=1)


def grade(assignment: LoadedAssignment, snapshot: Snapshot, settings: Settings) -> GradingResult:
    return grade_snapshot(assignment, snapshot, settings, Stopwatch(no_progress))


def bare_docker_run(image: str, runtime: str, snapshot: Path, tests: Path) -> Callable[[], None]:
    """The floor: pytest over the same suite and code in one container of the same image and runtime."""
    command = [
        "docker", "run", "--rm", f"--runtime={runtime}", "--network=none", "--read-only", "--user=1000:1000",
        "--tmpfs=/tmp:rw,size=64m", "--memory=256m", "--cpus=1", "--cap-drop=ALL",
        f"--volume={snapshot}:/workspace/submission:ro", f"--volume={tests}:/grader/tests/visible:ro",
        "--env=PYTHONPATH=/workspace/submission", "--env=PYTHONDONTWRITEBYTECODE=1", "--workdir=/tmp",
        "--entrypoint=/opt/venv/bin/python", image, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "/grader/tests/visible",
    ]

    def run() -> None:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"the bare docker run failed: {done.stdout[-500:]} {done.stderr[-500:]}")

    return run


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def median(values: list[float]) -> float:
    return statistics.median(values)


def profile_top(action: Callable[[], Any], count: int = 8) -> list[str]:
    profiler = cProfile.Profile()
    profiler.enable()
    action()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
    entries: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = []
    for (file, line, name), (_, _, total, cumulative, _) in sorted(entries.items(), key=lambda item: -item[1][3]):
        if "grader" in file and "bench" not in file:
            rows.append(f"{cumulative:.3f} s cumulative, {total:.3f} s own: {Path(file).name}:{line} {name}")
        if len(rows) >= count:
            break
    return rows


def bench_runtime(runtime: str, rounds: int, work: Path) -> dict[str, Any]:
    settings = Settings(home=work / "home", runtime=runtime)
    isolated = with_mode(TEN, "unit", work)
    inprocess = with_mode(TEN, "unit-inprocess", work)
    snapshot = snapshot_of(TEN)
    image = assignment_image(isolated, settings).tag
    floor = bare_docker_run(image, runtime, snapshot.path, TEN / "tests" / "visible")
    variants: dict[str, Callable[[], Any]] = {
        "bare docker run": floor,
        "in-process grade": lambda: grade(inprocess, snapshot, settings),
        "isolated grade": lambda: grade(isolated, snapshot, settings),
    }
    for action in variants.values():  # warm caches (images, page cache) outside the measurement
        action()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, action in variants.items():
            times[name].append(timed(action))
    result = grade(isolated, snapshot, settings)
    assert result.grade.score == result.grade.max_score, result.grade.reason
    calls = with_mode(CALLS, "unit", work)
    per_call = []
    for _ in range(rounds):
        tests = {t.id: t.duration for t in grade(calls, snapshot, settings).grade.tests}
        many, none = tests["test_calls.py::test_many_calls"], tests["test_calls.py::test_no_calls"]
        per_call.append((many - none) / CALLS_PER_TEST)
    medians = {name: median(values) for name, values in times.items()}
    return {
        "runtime": runtime,
        "rounds": rounds,
        "medians_s": medians,
        "samples_s": times,
        "tests": len(result.grade.tests),
        "per_call_ms": median(per_call) * 1000,
        "per_test_bridge_ms": (medians["isolated grade"] - medians["in-process grade"]) / len(result.grade.tests) * 1000,
        "profile_isolated": profile_top(lambda: grade(isolated, snapshot, settings)),
    }


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| runtime | bare `docker run` | in-process grade | isolated grade | isolated / floor | isolated / in-process "
        "| bridge per call | bridge per test |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        m = r["medians_s"]
        lines.append(
            f"| {r['runtime']} | {m['bare docker run']:.2f} s | {m['in-process grade']:.2f} s | "
            f"{m['isolated grade']:.2f} s | {m['isolated grade'] / m['bare docker run']:.2f}x | "
            f"{m['isolated grade'] / m['in-process grade']:.2f}x | {r['per_call_ms']:.2f} ms | "
            f"{r['per_test_bridge_ms']:.0f} ms |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runtimes", default="runsc,runc")
    parser.add_argument("--out", type=Path, help="folder to write grading.md and grading.json into")
    args = parser.parse_args()
    offered = available_runtimes()
    runtimes = [r for r in args.runtimes.split(",") if r in offered]
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as folder:
        results = [bench_runtime(runtime, args.rounds, Path(folder)) for runtime in runtimes]
    report = [
        f"# Grading benchmark: {results[0]['tests'] if results else 0} tests, medians of {args.rounds} interleaved rounds",
        "",
        "Command: `.venv/bin/python bench/bench_grading.py` (part of `make bench`).",
        "",
        table(results),
        "",
        "Per call: the duration of a test making 500 calls to a learner function, less that of the same test",
        "making none, over 500. Per test: (isolated - in-process) / tests.",
        "",
    ]
    for r in results:
        report.append(f"Profile of one isolated grade under {r['runtime']} (the worker's process, top costs):")
        report.append("")
        report.extend(f"- {row}" for row in r["profile_isolated"])
        report.append("")
    text = "\n".join(report)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "grading.md").write_text(text)
        (args.out / "grading.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
