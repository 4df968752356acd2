"""The service stack the benchmarks drive: Redis (and PostgreSQL) from scripts/start-services.sh on
ports of their own, the API under uvicorn and `grader worker` pools as separate processes, a loopback
git server for the learners' repositories, and the benchmark's assignment uploaded and checked.

Nothing here is timed; the benchmark modules time what they drive through it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.demo.gitserver import LoopbackGitServer  # noqa: E402
from grader.demo.stack import assignment_tarball, free_port, wait_checked  # noqa: E402

GRADER = [sys.executable, "-m", "grader"]
TEN = ROOT / "bench" / "assignments" / "py-ten"
TERMINAL = {"graded", "rejected", "error"}
PASSPHRASE = "benchmark passphrase"


def service_assignment(work: Path) -> Path:
    """py-ten laid out as an author uploads it: its solution as solutions/reference with the grade
    written down, and the manifest the upload's check compares with."""
    target = work / "py-ten"
    if target.exists():
        return target
    shutil.copytree(TEN, target, ignore=shutil.ignore_patterns("solution", "__pycache__"))
    shutil.copytree(TEN / "solution", target / "solutions" / "reference")
    expected = {"reference": {"score": 10.0, "max_score": 10.0, "percent": 100.0, "passed": True}}
    (target / "solutions" / "expected.yaml").write_text(yaml.safe_dump(expected))
    return target


def learner_source(work: Path, index: int) -> Path:
    """The reference solution with one file of the learner's own, so every repository has its own tree."""
    folder = work / "learners" / f"l{index}"
    if not folder.exists():
        shutil.copytree(TEN / "solution", folder, ignore=shutil.ignore_patterns("__pycache__"))
        (folder / "AUTHOR.txt").write_text(f"learner {index}\n")
    return folder


@dataclass
class Services:
    state_dir: Path
    redis_url: str
    database_url: str | None
    env: dict[str, str]

    def stop(self) -> None:
        subprocess.run([str(ROOT / "scripts/start-services.sh"), "stop"], env=self.env, capture_output=True, check=False)


@contextmanager
def services(postgres: bool) -> Iterator[Services]:
    state = Path(tempfile.mkdtemp(prefix="bench-services-"))
    env = {**os.environ, "GRADER_SERVICES_DIR": str(state), "REDIS_PORT": str(free_port()), "PG_PORT": str(free_port())}
    args = [str(ROOT / "scripts/start-services.sh")] + (["postgres"] if postgres else [])
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"start-services.sh failed: {done.stderr[-2000:]}")
    urls = dict(line.split("=", 1) for line in done.stdout.split() if "=" in line)
    made = Services(state, urls["GRADER_REDIS_URL"], urls.get("GRADER_DATABASE_URL"), env)
    try:
        yield made
    finally:
        made.stop()
        shutil.rmtree(state, ignore_errors=True)


@dataclass
class Stack:
    work: Path
    base: str
    env: dict[str, str]
    git: LoopbackGitServer
    database_url: str
    redis_url: str
    queue: str
    key: str = ""
    api: subprocess.Popen[bytes] | None = None
    pool: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    def cli(self, *args: str) -> str:
        done = subprocess.run([*GRADER, *args], env=self.env, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"grader {' '.join(args)} failed: {done.stderr[-2000:]}")
        return done.stdout

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = self.work / f"{name}.log"
        self.logs.append(log)
        with log.open("ab") as handle:
            return subprocess.Popen(
                [*GRADER, *args], env=self.env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
            )

    def tail(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in self.logs if p.exists())

    def start_api(self) -> None:
        port = self.base.rsplit(":", 1)[1]
        self.api = self._spawn("api", "serve", "--port", port, "--no-migrate")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.api.poll() is not None:
                raise RuntimeError(f"the API exited:\n{self.tail()}")
            time.sleep(0.2)
        raise RuntimeError(f"the API did not become ready:\n{self.tail()}")

    def start_workers(self, count: int) -> None:
        self.pool = self._spawn(f"workers-{count}", "worker", "--concurrency", str(count))

    def stop_workers(self) -> None:
        if self.pool is not None:
            _stop(self.pool)
            self.pool = None

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {self.key}"}, timeout=60)

    def submit(self, client: httpx.Client, learner: str, url: str) -> str:
        made = client.post("/api/v1/submissions", json={"assignment": "py-ten", "learner": learner, "repo_url": url})
        if made.status_code != 201:
            raise RuntimeError(f"submission refused: {made.status_code} {made.text[:500]}")
        return str(made.json()["id"])

    def states(self, ids: list[str]) -> dict[str, str]:
        """Each submission's state, read from the database (not through the API being measured)."""
        found: dict[str, str] = {}
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    marks = ", ".join(f":i{n}" for n in range(len(chunk)))
                    rows = connection.execute(
                        text(f"SELECT id, state FROM submissions WHERE id IN ({marks})"),
                        {f"i{n}": value for n, value in enumerate(chunk)},
                    )
                    found.update({str(row[0]): str(row[1]) for row in rows})
        finally:
            engine.dispose()
        return found

    def wait_terminal(self, ids: list[str], timeout: float, interval: float = 0.1) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while True:
            states = self.states(ids)
            if all(states.get(i) in TERMINAL for i in ids):
                return states
            if time.monotonic() > deadline:
                pending = {i: s for i, s in states.items() if s not in TERMINAL}
                raise RuntimeError(f"{len(pending)} submission(s) not finished in {timeout:.0f} s:\n{self.tail()}")
            if self.pool is not None and self.pool.poll() is not None:
                raise RuntimeError(f"the worker pool exited:\n{self.tail()}")
            time.sleep(interval)

    def stop(self) -> None:
        self.stop_workers()
        if self.api is not None:
            _stop(self.api)
            self.api = None


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def stack_env(work: Path, found: Services, port: int, git_host: str, runtime: str, queue: str) -> dict[str, str]:
    env = {
        **os.environ,
        "GRADER_HOME": str(work / "home"),
        "GRADER_REDIS_URL": found.redis_url,
        "GRADER_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "GRADER_ALLOWED_HOSTS": json.dumps([git_host]),
        "GRADER_ALLOWED_SCHEMES": json.dumps(["http", "https"]),
        "GRADER_QUEUE_NAME": queue,
        "GRADER_KEY_PASSPHRASE": PASSPHRASE,
        "GRADER_KEYS_DIR": str(work / "home" / "keys"),
        "GRADER_RUNTIME": runtime,
        # A deadline rush: every learner submits once, so the per-learner limit never bites; the tenant's
        # own rate limit is lifted so the benchmark measures the service, not that limit.
        "GRADER_LEARNER_SUBMISSIONS_PER_HOUR": "1000000",
        "GRADER_TENANT_SUBMISSIONS_PER_MINUTE": "100000000",
    }
    if found.database_url:
        env["GRADER_DATABASE_URL"] = found.database_url
    return env


@contextmanager
def running_stack(runtime: str, *, postgres: bool = False, api: bool = True) -> Iterator[Stack]:
    """Services, database migrated, a tenant with its keys, the API (when `api`), the assignment uploaded
    and checked (by a one-worker pool, stopped afterwards). Yields with no workers running."""
    work = Path(tempfile.mkdtemp(prefix="bench-stack-"))
    git = LoopbackGitServer(work / "git")
    git.start()
    try:
        with services(postgres) as found:
            port = free_port()
            queue = f"bench-{port}"
            env = stack_env(work, found, port, git.host, runtime, queue)
            database_url = found.database_url or f"sqlite:///{work / 'home' / 'grader.db'}"
            stack = Stack(work, f"http://127.0.0.1:{port}", env, git, database_url, found.redis_url, queue)
            try:
                stack.cli("db", "upgrade")
                stack.key = json.loads(stack.cli("tenant", "create", "bench", "--json"))["admin_key"]
                stack.start_api()
                _upload(stack)
                if not api:
                    _stop(stack.api) if stack.api else None
                    stack.api = None
                yield stack
            finally:
                stack.stop()
    finally:
        git.stop()
        shutil.rmtree(work, ignore_errors=True)


def _upload(stack: Stack) -> None:
    folder = service_assignment(stack.work)
    stack.cli("assignment", "check", "--write-manifest", str(folder))  # the manifest the upload must carry
    stack.start_workers(1)
    try:
        with stack.client() as client:
            upload = client.post(
                "/api/v1/assignments", content=assignment_tarball(folder), headers={"Content-Type": "application/gzip"}
            )
            if upload.status_code >= 300:
                raise RuntimeError(f"upload refused: {upload.status_code} {upload.text[:1000]}")
            check: dict[str, Any] = wait_checked(client, "py-ten", "1.0.0", timeout=600)
            if check["status"] != "published":
                raise RuntimeError(f"the upload's check refused it: {check}")
    finally:
        stack.stop_workers()


def publish_learners(stack: Stack, count: int, prefix: str = "l") -> list[str]:
    """One repository per learner on the loopback git server; returns their URLs."""
    return [stack.git.publish(f"{prefix}{i}", learner_source(stack.work, i)) for i in range(count)]


PROFILE_JOB = """
import cProfile, json, pstats, sys
from grader.jobs.context import context
from grader.jobs.grading import run_grading

ids, out, count = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for sid in ids[:-1]:  # warm: the context, the Docker client, the keys, the caches a worker keeps
    run_grading(context(), sid)
profiler = cProfile.Profile()
profiler.enable()
state = run_grading(context(), ids[-1])
profiler.disable()
entries = pstats.Stats(profiler).stats
rows = []
for (file, line, name), (_, _, own, cumulative, _) in sorted(entries.items(), key=lambda item: -item[1][3]):
    if "/grader/" in file and name != "<module>":
        where = file.split("/grader/", 1)[1]
        rows.append(f"{cumulative:.3f} s cumulative, {own:.3f} s own: {where}:{line} {name}")
    if len(rows) >= count:
        break
total = sum(v[2] for k, v in entries.items())
sql = sum(v[2] for k, v in entries.items() if "sqlalchemy" in k[0])
rows.append(f"(the job: {state}; own time in SQLAlchemy {sql:.3f} s of {total:.3f} s profiled)")
open(out, "w").write(json.dumps(rows))
"""


def profile_warm_job(stack: Stack, count: int = 14) -> list[str]:
    """cProfile of one grading job as a worker runs it once warm (two jobs before it), in a process of
    its own with the workers' environment: the project's functions by cumulative time."""
    urls = publish_learners(stack, 3, prefix="profiled-")
    with stack.client() as client:
        ids = [stack.submit(client, f"profiled-{i}@example.org", url) for i, url in enumerate(urls)]
    out = stack.work / "job-profile.json"
    done = subprocess.run(
        [sys.executable, "-c", PROFILE_JOB, json.dumps(ids), str(out), str(count)],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0 or not out.exists():
        return [f"(profiling a job failed: {done.stderr[-400:]})"]
    rows: list[str] = json.loads(out.read_text())
    return rows
