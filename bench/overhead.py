"""Benchmark 1, overhead per submission: `grader grade --json` of the bundled 10-test assignment
(bench/assignments/py-ten, fetched over the loopback git server, graded in isolated unit mode, its
credential issued) beside a bare `docker run` of the same image, files and runtime, interleaved pair
by pair; the stages the grade reports and the process's own start-up and teardown; `grader --help`
beside `python -c pass`; and one submission at a time through the service (API + one worker).

    .venv/bin/python -m bench.overhead [--runs 20] [--runtimes runsc,runc] [--service-runs 20] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import Goal, Row, Section, interleaved, median, now_utc, print_section, write_section  # noqa: E402

TEN = ROOT / "bench" / "assignments" / "py-ten"
GRADER = [str(ROOT / ".venv" / "bin" / "grader")]
PYTHON = str(ROOT / ".venv" / "bin" / "python")


def bare_docker_run(image: str, runtime: str) -> list[str]:
    """The floor: pytest over the same suite and code in one container of the same image and runtime,
    with the sandbox's restrictions (no network, read-only, unprivileged, the spec's limits)."""
    return [
        "docker", "run", "--rm", f"--runtime={runtime}", "--network=none", "--read-only", "--user=1000:1000",
        "--tmpfs=/tmp:rw,size=64m", "--memory=256m", "--cpus=1", "--cap-drop=ALL", "--pids-limit=64",
        f"--volume={(TEN / 'solution').resolve()}:/workspace/submission:ro",
        f"--volume={(TEN / 'tests' / 'visible').resolve()}:/grader/tests/visible:ro",
        "--env=PYTHONPATH=/workspace/submission", "--env=PYTHONDONTWRITEBYTECODE=1", "--workdir=/tmp",
        "--entrypoint=/opt/venv/bin/python", image, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "/grader/tests/visible",
    ]  # fmt: skip


def timed_command(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])}... failed ({done.returncode}): {done.stdout[-800:]} {done.stderr[-800:]}")
    return elapsed


class GradeRun:
    """One `grader grade --json` process: its wall time, the stages it reports, and its teardown (from
    its last write to stdout, the JSON, to its exit)."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        assert process.stdout is not None
        chunks: list[bytes] = []
        last_write = started
        while True:
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                break
            chunks.append(chunk)
            last_write = time.perf_counter()
        stderr = process.stderr.read() if process.stderr else b""
        process.wait()
        ended = time.perf_counter()
        if process.returncode != 0:
            raise SystemExit(f"grader grade failed ({process.returncode}): {stderr.decode()[-2000:]}")
        result: dict[str, Any] = json.loads(b"".join(chunks))
        if not result["passed"] or not result.get("credential"):
            raise SystemExit(f"the benchmark's grade did not pass with a credential: {result['reason']}")
        self.wall = ended - started
        self.timings: dict[str, float] = result["timings"]
        self.teardown = ended - last_write
        self.startup = self.wall - self.teardown - sum(self.timings.values())
        self.runtime = result["evidence"]["runtime"]


def grade_command(url: str, host: str) -> list[str]:
    return [*GRADER, "grade", url, "-a", str(TEN), "--allow-host", host, "--allow-scheme", "http", "--json"]


def import_profile(command: list[str], env: dict[str, str], count: int = 10) -> list[str]:
    """`python -X importtime`'s top-level imports by cumulative time (what start-up spends its time on)."""
    done = subprocess.run(
        [PYTHON, "-X", "importtime", "-m", "grader", *command[1:]], capture_output=True, text=True, env=env, check=False
    )
    rows: list[tuple[int, str, int]] = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\s*)(\S+)", line)
        if match and len(match.group(2)) <= 2:  # the imports the program asked for, and their first level
            rows.append((int(match.group(1)), match.group(3), len(match.group(2))))
    total = sum(us for us, _, depth in rows if depth == 0)
    top = sorted(rows, reverse=True)[:count]
    return [f"import {name}: {us / 1e6:.3f} s cumulative" for us, name, _ in top] + [
        f"(all the imports of the command: {total / 1e6:.3f} s)"
    ]


def cprofile_grade(command: list[str], env: dict[str, str], work: Path, count: int = 12) -> list[str]:
    """cProfile of one whole `grader grade` (the command as the program runs it, less the interpreter's
    start-up): the project's functions by cumulative time."""
    out = work / "grade.prof"
    code = (
        "import cProfile, sys\n"
        "from typer.main import get_command\n"
        "from grader.cli.main import app\n"
        "args = sys.argv[1:]\n"
        "cProfile.run('get_command(app).main(args=args, prog_name=\"grader\", standalone_mode=False)', "
        f"{str(out)!r})\n"
    )
    done = subprocess.run([PYTHON, "-c", code, *command[1:]], capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0 or not out.exists():
        return [f"(cProfile of one grade failed: {done.stderr[-300:]})"]
    stats = pstats.Stats(str(out))
    entries: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = []
    for (file, line, name), (_, _, own, cumulative, _) in sorted(entries.items(), key=lambda item: -item[1][3]):
        if ("/grader/" in file or "/credentials/" in file) and "/bench/" not in file and name != "<module>":
            rows.append(f"{cumulative:.3f} s cumulative, {own:.3f} s own: {Path(file).parent.name}/{Path(file).name}:{line} {name}")
        if len(rows) >= count:
            break
    return rows


def cli_rows(runs: int, runtimes: list[str], work: Path) -> tuple[list[Row], dict[str, Any], list[str]]:
    from grader.config import Settings
    from grader.core.spec import load_assignment
    from grader.demo.gitserver import LoopbackGitServer
    from grader.sandbox.images import assignment_image

    rows: list[Row] = []
    details: dict[str, Any] = {"stages": {}}
    profile: list[str] = []
    home = work / "home"
    image = assignment_image(load_assignment(TEN), Settings(home=home)).tag
    with LoopbackGitServer(work / "git") as git:
        url = git.publish("py-ten", TEN / "solution")
        command = grade_command(url, git.host)
        for runtime in runtimes:
            env = {**os.environ, "GRADER_HOME": str(home), "GRADER_RUNTIME": runtime}
            bare = bare_docker_run(image, runtime)
            grades: list[GradeRun] = []

            def one_grade(env: dict[str, str] = env, grades: list[GradeRun] = grades) -> float:
                run = GradeRun(command, env)
                grades.append(run)
                return run.wall

            actions: dict[str, Callable[[], float]] = {
                "bare": lambda bare=bare: timed_command(bare),  # type: ignore[misc]
                "grade": one_grade,
            }
            for action in actions.values():  # warm: keys created, page cache, image layers
                action()
            grades.clear()
            samples = interleaved(actions, runs)
            if grades[0].runtime != runtime:
                raise SystemExit(f"asked for {runtime}, the grade ran under {grades[0].runtime}")
            rows.append(
                Row(
                    figure=f"`grader grade --json`, 10 fast tests, {runtime}",
                    unit="s",
                    samples=samples["grade"],
                    baseline=f"bare `docker run`, {runtime}",
                    baseline_samples=samples["bare"],
                    goals=[Goal("ratio_max", 1.3, "<= 1.3x")],
                )
            )
            stages = {name: median([g.timings.get(name, 0.0) for g in grades]) for name in grades[0].timings}
            stages["process start-up and set-up"] = median([g.startup for g in grades])
            stages["process teardown"] = median([g.teardown for g in grades])
            details["stages"][runtime] = stages
        env = {**os.environ, "GRADER_HOME": str(home), "GRADER_RUNTIME": runtimes[0]}
        profile += [f"{runtimes[0]}, start-up: {entry}" for entry in import_profile(command, env)]
        profile += [f"{runtimes[0]}, one grade: {entry}" for entry in cprofile_grade(command, env, work)]
    return rows, details, profile


def help_row(runs: int) -> Row:
    actions: dict[str, Callable[[], float]] = {
        "pass": lambda: timed_command([PYTHON, "-c", "pass"]),
        "help": lambda: timed_command([*GRADER, "--help"]),
    }
    for action in actions.values():
        action()
    samples = interleaved(actions, runs)
    return Row(
        figure="`grader --help`",
        unit="s",
        samples=samples["help"],
        baseline="`python -c pass`",
        baseline_samples=samples["pass"],
        goals=[Goal("ratio_max", 8.0, "<= 8x"), Goal("value_max", 0.2, "under 0.2 s")],
    )


def service_row(runs: int, runtime: str) -> tuple[Row, dict[str, Any]]:
    """One submission at a time through the API and one worker, from POST to `graded` in the store."""
    from bench.stack import publish_learners, running_stack
    from grader.config import Settings
    from grader.core.spec import load_assignment
    from grader.sandbox.images import assignment_image

    with running_stack(runtime) as stack:
        image = assignment_image(load_assignment(TEN), Settings(home=stack.work / "home")).tag
        urls = publish_learners(stack, runs + 1, prefix="one-")
        stack.start_workers(1)
        pending = iter(enumerate(urls))
        states: list[str] = []

        def one_submission() -> float:
            index, url = next(pending)
            with stack.client() as client:
                started = time.perf_counter()
                sid = stack.submit(client, f"one-{index}@example.org", url)
                state = stack.wait_terminal([sid], timeout=600, interval=0.02)[sid]
                elapsed = time.perf_counter() - started
            states.append(state)
            return elapsed

        bare = bare_docker_run(image, runtime)
        actions: dict[str, Callable[[], float]] = {"bare": lambda: timed_command(bare), "service": one_submission}
        for action in actions.values():  # the worker's first job builds its context
            action()
        samples = interleaved(actions, runs)
        stack.stop_workers()
    failures = [s for s in states if s != "graded"]
    if failures:
        raise SystemExit(f"{len(failures)} submission(s) through the service did not end graded: {failures}")
    row = Row(
        figure=f"service (API + 1 worker), one submission at a time, POST to graded, {runtime}",
        unit="s",
        samples=samples["service"],
        baseline=f"bare `docker run`, {runtime}",
        baseline_samples=samples["bare"],
        note="the store is read every 20 ms to see the submission graded",
    )
    return row, {"service_states": states}


def run(args: argparse.Namespace) -> Section:
    from grader.sandbox.engine import available_runtimes

    started = time.perf_counter()
    offered = available_runtimes()
    runtimes = [r for r in args.runtimes.split(",") if r in offered]
    if not runtimes:
        raise SystemExit(f"none of {args.runtimes} is offered by the Docker engine ({sorted(offered)})")
    section = Section(
        name="overhead",
        title="1. Overhead per submission",
        command=f".venv/bin/python -m bench.overhead --runs {args.runs} --runtimes {','.join(runtimes)} "
        f"--service-runs {args.service_runs}",
        started=now_utc(),
    )
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as folder:
        rows, details, profile = cli_rows(args.runs, runtimes, Path(folder))
    section.rows += rows
    section.rows.append(help_row(args.runs))
    section.details = details
    section.profile = profile
    if args.service_runs > 0:
        row, extra = service_row(args.service_runs, runtimes[0])
        section.rows.append(row)
        section.details |= extra
    section.notes += stage_table(details["stages"])
    section.notes.append(
        "Stages are what `grader grade --json` reports in `timings`; start-up and set-up is the process's wall "
        "time less its stages and teardown (interpreter start, imports, settings, loading the spec, the "
        "workspace); teardown runs from its last write to stdout (the JSON) to its exit."
    )
    section.seconds = time.perf_counter() - started
    return section


def stage_table(stages: dict[str, dict[str, float]]) -> list[str]:
    runtimes = list(stages)
    names = list(dict.fromkeys(name for values in stages.values() for name in values))
    lines = ["| stage of one `grader grade` (median) | " + " | ".join(runtimes) + " |", "|---|" + "---|" * len(runtimes)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(f"{stages[r].get(name, 0.0):.3f} s" for r in runtimes) + " |")
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=20, help="interleaved pairs per runtime")
    parser.add_argument("--runtimes", default="runsc,runc")
    parser.add_argument("--service-runs", type=int, default=20, help="submissions through the service (0: skip)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    args = parser.parse_args()
    section = run(args)
    write_section(section, args.out)
    print_section(section)


if __name__ == "__main__":
    main()
