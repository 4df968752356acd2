"""Benchmark 2, throughput: N submissions queued through the API (each learner's own repository on
the loopback git server), then drained by a pool of 1, 2 and 4 workers, beside N bare `docker run`s of
the same image and tests at the same parallelism; interleaved worker count by worker count. No
failures: every submission must end graded and every bare run must pass.

    .venv/bin/python -m bench.throughput [--submissions 200] [--workers 1,2,4] [--runtime runsc] [--out DIR]

The drain is timed from the moment every worker of the pool has registered with the queue (they take
jobs as soon as they do) to the moment the last submission is graded in the store.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.overhead import TEN, bare_docker_run, timed_command  # noqa: E402
from bench.report import Goal, Row, Section, now_utc, print_section, write_section  # noqa: E402
from bench.stack import Stack, profile_warm_job, publish_learners, running_stack  # noqa: E402


def wait_registered(stack: Stack, count: int, timeout: float = 120) -> None:
    from redis import Redis
    from rq import Queue, Worker

    connection = Redis.from_url(stack.redis_url)
    queue = Queue(stack.queue, connection=connection)
    deadline = time.monotonic() + timeout
    while Worker.count(queue=queue) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"the pool's {count} workers did not register in {timeout:.0f} s:\n{stack.tail()}")
        if stack.pool is not None and stack.pool.poll() is not None:
            raise SystemExit(f"the worker pool exited:\n{stack.tail()}")
        time.sleep(0.02)


def drain(stack: Stack, urls: list[str], workers: int, round_name: str) -> tuple[float, dict[str, int]]:
    """Queue one submission per URL with no worker running, then time `workers` workers draining them."""
    with stack.client() as client:
        ids = [stack.submit(client, f"{round_name}-{i}@example.org", url) for i, url in enumerate(urls)]
    stack.start_workers(workers)
    try:
        wait_registered(stack, workers)
        started = time.perf_counter()
        states = stack.wait_terminal(ids, timeout=60 * 60, interval=0.05)
        elapsed = time.perf_counter() - started
    finally:
        stack.stop_workers()
    counts: dict[str, int] = {}
    for state in states.values():
        counts[state] = counts.get(state, 0) + 1
    if counts.get("graded", 0) != len(ids):
        raise SystemExit(f"the service's drain with {workers} worker(s) had failures: {counts}\n{stack.tail()}")
    return len(ids) / elapsed, counts


def bare_drain(command: list[str], count: int, workers: int) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda _: timed_command(command), range(count)))  # raises on any failure
    return count / (time.perf_counter() - started)


def run(args: argparse.Namespace) -> Section:
    from grader.config import Settings
    from grader.core.spec import load_assignment
    from grader.sandbox.images import assignment_image

    started = time.perf_counter()
    workers = [int(w) for w in args.workers.split(",")]
    section = Section(
        name="throughput",
        title=f"2. Throughput: {args.submissions} queued submissions drained",
        command=f".venv/bin/python -m bench.throughput --submissions {args.submissions} "
        f"--workers {args.workers} --runtime {args.runtime}",
        started=now_utc(),
    )
    points: list[dict[str, Any]] = []
    with running_stack(args.runtime, api=True) as stack:
        image = assignment_image(load_assignment(TEN), Settings(home=stack.work / "home")).tag
        bare = bare_docker_run(image, args.runtime)
        urls = publish_learners(stack, args.submissions, prefix="rush-")
        timed_command(bare)  # warm the image's layers and the page cache
        for count in workers:
            rounds: dict[str, Callable[[], float]] = {
                "service": lambda count=count: drain(stack, urls, count, f"w{count}")[0],  # type: ignore[misc]
                "bare": lambda count=count: bare_drain(bare, args.submissions, count),  # type: ignore[misc]
            }
            rates = {name: action() for name, action in rounds.items()}
            section.rows.append(
                Row(
                    figure=f"service, {count} worker(s), submissions graded per second",
                    unit="per s",
                    samples=[rates["service"]],
                    baseline=f"{args.submissions} bare `docker run`s, {count} at a time",
                    baseline_samples=[rates["bare"]],
                    goals=[Goal("ratio_min", 0.9, ">= 0.9x")],
                    higher_is_better=True,
                )
            )
            points.append({"series": "service (API + workers)", "workers": count, "per_second": rates["service"]})
            points.append({"series": "bare docker run", "workers": count, "per_second": rates["bare"]})
            print(f"{count} worker(s): service {rates['service']:.2f}/s, bare {rates['bare']:.2f}/s", flush=True)
        section.profile = [f"one grading job, warm: {row}" for row in profile_warm_job(stack)]
    section.details = {"points": points, "runtime": args.runtime, "submissions": args.submissions}
    section.notes.append(
        f"Each drain is one sample of {args.submissions} submissions (a rate over the whole drain), service and "
        "floor back to back for each worker count. Runtime: "
        f"{args.runtime}. Every submission ended graded, every bare run passed."
    )
    section.seconds = time.perf_counter() - started
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--runtime", default="runsc")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    args = parser.parse_args()
    section = run(args)
    write_section(section, args.out)
    print_section(section)


if __name__ == "__main__":
    main()
