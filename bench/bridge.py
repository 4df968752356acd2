"""Benchmark 6, isolated unit mode: what the bridge costs per call and per test.

Per call: a test making 500 calls to a learner function less the same test making none, over 500, in
isolated unit mode (each call relayed to the learner's container and answered by value) beside the
same in `unit-inprocess` mode (a plain call). Per test: an isolated grade of the 10-test assignment
beside an in-process grade of it, interleaved; (isolated - in-process) / tests is the bridge's share
per test (the second container included).

    .venv/bin/python -m bench.bridge [--rounds 7] [--runtime runsc] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_grading import CALLS, CALLS_PER_TEST, TEN, grade, snapshot_of, with_mode  # noqa: E402
from bench.report import Row, Section, interleaved, median, now_utc, print_section, write_section  # noqa: E402


def call_row(isolated: list[float], inprocess: list[float], runtime: str) -> Row:
    """Per call through the bridge, beside the same call in-process when that is measurable at all: the
    harness times tests to the millisecond, and 500 plain calls may take less."""
    measurable = median(inprocess) > 0
    return Row(
        figure=f"one learner call through the bridge, {runtime}",
        unit="ms",
        samples=isolated,
        baseline="the same call in-process" if measurable else "",
        baseline_samples=inprocess if measurable else [],
        note="" if measurable else f"in-process, {CALLS_PER_TEST} calls take less than the 1 ms the test durations resolve",
    )


def run(args: argparse.Namespace) -> Section:
    from grader.config import Settings

    started = time.perf_counter()
    section = Section(
        name="bridge",
        title="6. Isolated unit mode: the bridge's cost per call and per test",
        command=f".venv/bin/python -m bench.bridge --rounds {args.rounds} --runtime {args.runtime}",
        started=now_utc(),
    )
    with tempfile.TemporaryDirectory(prefix="bench-bridge-") as folder:
        work = Path(folder)
        settings = Settings(home=work / "home", runtime=args.runtime)
        snapshot = snapshot_of(TEN)
        isolated, inprocess = with_mode(TEN, "unit", work), with_mode(TEN, "unit-inprocess", work)
        calls_isolated, calls_inprocess = with_mode(CALLS, "unit", work), with_mode(CALLS, "unit-inprocess", work)
        tests = len(grade(isolated, snapshot, settings).grade.tests)

        def per_call(assignment: object) -> Callable[[], float]:
            def measure() -> float:
                durations = {t.id: t.duration for t in grade(assignment, snapshot, settings).grade.tests}  # type: ignore[arg-type]
                many, none = durations["test_calls.py::test_many_calls"], durations["test_calls.py::test_no_calls"]
                return (many - none) / CALLS_PER_TEST * 1000

            return measure

        def whole(assignment: object) -> Callable[[], float]:
            def measure() -> float:
                begun = time.perf_counter()
                grade(assignment, snapshot, settings)  # type: ignore[arg-type]
                return time.perf_counter() - begun

            return measure

        actions = {
            "grade in-process": whole(inprocess),
            "grade isolated": whole(isolated),
            "call in-process": per_call(calls_inprocess),
            "call isolated": per_call(calls_isolated),
        }
        for action in actions.values():
            action()
        samples = interleaved(actions, args.rounds)
    per_test = [(i - p) / tests * 1000 for i, p in zip(samples["grade isolated"], samples["grade in-process"], strict=True)]
    section.rows += [
        call_row(samples["call isolated"], samples["call in-process"], args.runtime),
        Row(
            figure=f"isolated grade of {tests} tests, {args.runtime}",
            unit="s",
            samples=samples["grade isolated"],
            baseline="in-process grade of the same",
            baseline_samples=samples["grade in-process"],
        ),
        Row(figure="the bridge's share per test ((isolated - in-process) / tests)", unit="ms", samples=per_test),
    ]
    section.details = {"tests": tests, "calls_per_test": CALLS_PER_TEST, "runtime": args.runtime}
    section.notes.append(
        f"Grades through the pipeline's build, run and judge stages (no fetch: the snapshot is the solution "
        f"folder), {args.rounds} interleaved rounds; median per-test share {median(per_test):.0f} ms."
    )
    section.seconds = time.perf_counter() - started
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runtime", default="runsc")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    args = parser.parse_args()
    section = run(args)
    write_section(section, args.out)
    print_section(section)


if __name__ == "__main__":
    main()
