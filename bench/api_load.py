"""Benchmark 3, the API under a deadline rush: sustained `POST /api/v1/submissions` from a separate
load process (wrk, 32 connections, each request a new learner) beside `GET /healthz` on the same
server, with no worker running; afterwards every accepted submission (a 201 with its id) must be in
the store exactly once and its grading job in the queue exactly once. SQLite and PostgreSQL.

    .venv/bin/python -m bench.api_load [--seconds 30] [--healthz-seconds 10] [--databases sqlite,postgres] [--out DIR]

Order per database: /healthz, the POSTs, /healthz again (the baseline is the median of the two).
wrk is the generator: a C program on its own two threads; /healthz on the same machine shows how many
requests per second it can drive, so a POST rate far below it is the server's, not the generator's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import Goal, Row, Section, now_utc, print_section, write_section  # noqa: E402
from bench.stack import Stack, running_stack  # noqa: E402

SCRIPT = ROOT / "bench" / "wrk" / "load.lua"
CONNECTIONS = 32
THREADS = 2


def wrk(stack: Stack, mode: str, seconds: float, prefix: str, work: Path) -> dict[str, Any]:
    """One wrk run; returns what the script's done() wrote (counts, latency, accepted ids) and the rate."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (scripts/bootstrap.sh installs it: apt-get install wrk)")
    out = work / f"wrk-{prefix}.json"
    url = f"{stack.base}/healthz" if mode == "get" else stack.base
    env = {
        **os.environ,
        "BENCH_MODE": mode,
        "BENCH_KEY": stack.key,
        "BENCH_REPO": f"http://{stack.git.host}/rush.git",
        "BENCH_PREFIX": prefix,
        "BENCH_OUT": str(out),
    }
    command = ["wrk", "-t", str(THREADS), "-c", str(CONNECTIONS), "-d", f"{seconds:.0f}s", "--timeout", "10s",
               "-s", str(SCRIPT), url]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0 or not out.exists():
        raise SystemExit(f"wrk failed: {done.stdout[-1500:]} {done.stderr[-1500:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    result["per_second"] = result["requests"] / (result["duration_us"] / 1e6)
    result["wrk_output"] = done.stdout
    return result


def verify(stack: Stack, accepted: list[str], warm: str) -> dict[str, Any]:
    """Every accepted submission persisted once and its job queued once; what else the store or the
    queue holds beyond them (the warm-up submission `warm` aside)."""
    from redis import Redis
    from sqlalchemy import create_engine, text

    engine = create_engine(stack.database_url)
    try:
        with engine.connect() as connection:
            rows = [str(r[0]) for r in connection.execute(text("SELECT id FROM submissions")) if str(r[0]) != warm]
    finally:
        engine.dispose()
    redis = Redis.from_url(stack.redis_url)
    queued = [j.decode() for j in redis.lrange(f"rq:queue:{stack.queue}", 0, -1)]
    jobs = Counter(queued)
    stored = Counter(rows)
    accepted_set = set(accepted)
    missing_rows = [i for i in accepted if stored[i] != 1]
    job_counts = [jobs.get(f"grade-{i}-r1", 0) for i in accepted]
    report = {
        "accepted": len(accepted),
        "accepted_unique": len(accepted_set),
        "stored_once": sum(1 for i in accepted if stored[i] == 1),
        "queued_once": sum(1 for c in job_counts if c == 1),
        "queued_twice_or_more": sum(1 for c in job_counts if c > 1),
        "not_stored": len(missing_rows),
        "not_queued": sum(1 for c in job_counts if c == 0),
        # Requests in flight when wrk stopped (at most one per connection): committed, the answer unread.
        "stored_not_acknowledged": sum(1 for r in stored if r not in accepted_set),
        "stored_all_queued_once": all(jobs.get(f"grade-{r}-r1", 0) == 1 for r in stored),
        "grading_jobs_in_queue": sum(1 for j in queued if j.startswith("grade-") and j != f"grade-{warm}-r1"),
    }
    report["ok"] = (
        report["accepted"] == report["accepted_unique"] == report["stored_once"] == report["queued_once"]
        and report["queued_twice_or_more"] == 0
        and report["stored_all_queued_once"]
        and report["grading_jobs_in_queue"] == len(stored)
        and report["stored_not_acknowledged"] <= CONNECTIONS
    )
    return report


def sampled(stack: Stack, seconds: float, database: str, work: Path) -> dict[str, Any]:
    """The API again, under the sampling profiler (bench/sampler.py), driven by wrk's POSTs for
    `seconds`: where the server's time goes, and its CPU per accepted submission."""
    import signal

    import httpx

    if stack.api is not None:
        from bench.stack import _stop

        _stop(stack.api)
        stack.api = None
    out = work / f"sampled-{database}.json"
    port = stack.base.rsplit(":", 1)[1]
    log = (work / f"sampled-{database}.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "bench.sampler", str(out), port], cwd=ROOT, env=stack.env,
                               stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{stack.base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        posts = wrk(stack, "submit", seconds, f"{database}-sampled", work)
    finally:
        assert process.stdin is not None
        process.stdin.close()  # the sampler's signal to stop the server and write its profile
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
        log.close()
    if not out.exists():
        return {"rows": [f"(the sampled API wrote no profile: {(work / f'sampled-{database}.log').read_text()[-400:]})"]}
    found: dict[str, Any] = json.loads(out.read_text())
    busy = max(1, int(found["busy_samples"]))
    accepted = max(1, len(posts["accepted_ids"]))
    rows = [
        f"{database}: {found['cpu_s'] * 1000 / accepted:.0f} ms of the API process's CPU per accepted submission "
        f"({accepted} accepted in {seconds:.0f} s under the sampler)",
        f"{database}: innermost frame by library, share of busy samples: "
        + ", ".join(f"{name} {count / busy:.0%}" for name, count in found["leaf_library"][:6]),
    ]
    rows += [f"{database}: {count / busy:.0%} of busy samples in {name}" for name, count in found["inclusive"][:12]]
    return {"rows": rows, "cpu_s": found["cpu_s"], "accepted": accepted}


def measure(database: str, args: argparse.Namespace, work: Path) -> tuple[list[Row], dict[str, Any]]:
    with running_stack(args.runtime, postgres=database == "postgres") as stack:
        with stack.client() as client:  # the tenant's first request warms the API's caches
            warm = stack.submit(client, "warm@example.org", f"http://{stack.git.host}/rush.git")
        before = wrk(stack, "get", args.healthz_seconds, f"{database}-h1", work)
        posts = wrk(stack, "submit", args.seconds, f"{database}-post", work)
        after = wrk(stack, "get", args.healthz_seconds, f"{database}-h2", work)
        checked = verify(stack, posts["accepted_ids"], warm)
        profile = sampled(stack, args.profile_seconds, database, work) if args.profile_seconds > 0 else {"rows": []}
    healthz = [before["per_second"], after["per_second"]]
    accepted_rate = len(posts["accepted_ids"]) / (posts["duration_us"] / 1e6)
    refused = {k: v for k, v in posts["statuses"].items() if k != "201"}
    rows = [
        Row(
            figure=f"`POST /api/v1/submissions`, {CONNECTIONS} connections, {database}, accepted req/s",
            unit="req/s",
            samples=[accepted_rate],
            baseline="`GET /healthz`, same server",
            baseline_samples=healthz,
            goals=[Goal("value_min", 1000, ">= 1,000 req/s"), Goal("ratio_min", 0.5, ">= 0.5x of /healthz")],
            higher_is_better=True,
            note=f"answers other than 201: {refused or 'none'}; wrk errors: {posts['errors']}",
        ),
        Row(
            figure=f"`POST /api/v1/submissions` p99 latency, {database}",
            unit="ms",
            samples=[posts["latency_us"]["p99"] / 1000],
            baseline="`GET /healthz` p99",
            baseline_samples=[before["latency_us"]["p99"] / 1000, after["latency_us"]["p99"] / 1000],
            goals=[Goal("value_max", 50, "<= 50 ms")],
        ),
        Row(
            figure=f"`POST /api/v1/submissions` p50 latency, {database}",
            unit="ms",
            samples=[posts["latency_us"]["p50"] / 1000],
            baseline="`GET /healthz` p50",
            baseline_samples=[before["latency_us"]["p50"] / 1000, after["latency_us"]["p50"] / 1000],
        ),
    ]
    details = {
        "posts": {k: v for k, v in posts.items() if k not in ("accepted_ids", "wrk_output")},
        "healthz": [{k: v for k, v in h.items() if k not in ("accepted_ids", "wrk_output")} for h in (before, after)],
        "check": checked,
        "profile": profile["rows"],
    }
    if not checked["ok"]:
        raise SystemExit(f"{database}: accepted submissions not persisted and enqueued exactly once: {checked}")
    return rows, details


def run(args: argparse.Namespace) -> Section:
    started = time.perf_counter()
    databases = args.databases.split(",")
    section = Section(
        name="api",
        title="3. API: a deadline rush of submissions",
        command=f".venv/bin/python -m bench.api_load --seconds {args.seconds:.0f} "
        f"--healthz-seconds {args.healthz_seconds:.0f} --databases {args.databases} "
        f"--profile-seconds {args.profile_seconds:.0f}",
        started=now_utc(),
    )
    with tempfile.TemporaryDirectory(prefix="bench-api-") as folder:
        for database in databases:
            rows, details = measure(database, args, Path(folder))
            section.rows += rows
            section.details[database] = details
            section.profile += details["profile"]
            check = details["check"]
            section.notes.append(
                f"{database}: {check['accepted']} submissions accepted in {args.seconds:.0f} s; afterwards "
                f"{check['stored_once']} in the store exactly once and {check['queued_once']} grading jobs "
                f"queued exactly once (none twice); {check['stored_not_acknowledged']} more stored and queued "
                "once whose answer wrk did not read (in flight when it stopped)."
            )
    section.notes.append(
        f"wrk {THREADS} threads, {CONNECTIONS} connections, one new learner per request (so no per-learner "
        "limit applies); the tenant's rate limit is lifted for the run; no worker runs, so the queue only "
        "grows. The API is one uvicorn process (`grader serve`)."
    )
    section.seconds = time.perf_counter() - started
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--healthz-seconds", type=float, default=10)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--profile-seconds", type=float, default=10, help="POSTs under the sampling profiler (0: none)")
    parser.add_argument("--runtime", default="runc", help="for the upload's check of the assignment (no grading is measured)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    args = parser.parse_args()
    section = run(args)
    write_section(section, args.out)
    print_section(section)


if __name__ == "__main__":
    main()
