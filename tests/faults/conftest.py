"""The fault-injection suite's stack: Redis of its own (scripts/start-services.sh), the API, the ledger
assignment uploaded and checked, a webhook receiver, and worker pools each test starts, kills and
restarts as its fault demands. Every test asserts the end state issue 15 names for its fault."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from grader.demo.gitserver import LoopbackGitServer
from grader.demo.stack import assignment_tarball, free_port, wait_checked
from grader.store.db import engine_for, session_factory, session_scope
from grader.store.models import CredentialRecord, GradeRecord, SubmissionEvent
from tests.conftest import LEDGER_DIR, LEDGER_SOLUTIONS
from tests.integration.test_service_stack import (
    GRADER,
    Receiver,
    Services,
    Stack,
    _stop,
    _wait_ready,
    stack_env,
    start_services,
)

pytestmark = [pytest.mark.integration, pytest.mark.fault]

TERMINAL = ("graded", "rejected", "error")
_names = count()


def learner() -> str:
    return f"fault-learner-{next(_names)}@example.org"


@dataclass
class Pool:
    """A `grader worker` process group started by a test."""

    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """SIGKILL the whole worker tree (pool, rq workers, work horses): nothing gets to clean up."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        _stop(self.process)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


@dataclass
class FaultStack:
    stack: Stack
    services: Services
    keys: dict[str, str]
    pools: list[Pool] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return self.stack.env

    @property
    def home(self) -> Path:
        return self.stack.home

    def start_pool(self, concurrency: int = 1, **extra: str) -> Pool:
        log = self.home / f"pool-{len(self.pools)}.log"
        with log.open("wb") as handle:
            process = subprocess.Popen(
                [*GRADER, "worker", "--concurrency", str(concurrency)],
                env={**self.env, **extra},
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        pool = Pool(process, log)
        self.pools.append(pool)
        return pool

    def stop_pools(self) -> None:
        for pool in self.pools:
            pool.stop()
        self.pools.clear()

    def logs(self) -> str:
        return self.stack.tail_logs() + "".join(f"\n--- {p.log.name}\n{p.log.read_text()[-4000:]}" for p in self.pools)

    def client(self, role: str = "submit") -> httpx.Client:
        return self.stack.client(self.keys[role])

    def submit(self, solution: str = "reference", who: str | None = None) -> str:
        url = self.stack.git.publish(f"{solution}-{next(_names)}", LEDGER_SOLUTIONS / solution)
        with self.client() as client:
            answer = client.post(
                "/api/v1/submissions", json={"assignment": "py-ledger", "learner": who or learner(), "repo_url": url}
            )
        assert answer.status_code in (201, 202), answer.text
        return str(answer.json()["id"])

    def submission(self, submission_id: str) -> dict[str, Any]:
        """The submission as the API shows it; an answer other than 200 (a 503 while the store is busy)
        is shown as state "" so that waiting goes on."""
        with self.client() as client:
            answer = client.get(f"/api/v1/submissions/{submission_id}")
        body: dict[str, Any] = answer.json() if answer.status_code == 200 else {"state": "", "answer": answer.text}
        return body

    def history(self, submission_id: str) -> list[dict[str, Any]]:
        with self.client() as client:
            found: list[dict[str, Any]] = client.get(f"/api/v1/submissions/{submission_id}/history").json()
        return found

    def wait_state(self, submission_id: str, states: tuple[str, ...], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            body = self.submission(submission_id)
            if body["state"] in states:
                return body
            time.sleep(0.3)
        raise AssertionError(f"{submission_id} not in {states} within {timeout:.0f} s: {body}\n{self.logs()}")

    def counts(self, submission_id: str) -> tuple[int, int]:
        """How many grades and credentials the store holds for the submission."""
        factory = session_factory(engine_for(f"sqlite:///{self.home / 'grader.db'}"))
        with session_scope(factory) as session:
            grades = session.scalar(select(func.count()).where(GradeRecord.submission_id == submission_id)) or 0
            credentials = (
                session.scalar(select(func.count()).where(CredentialRecord.submission_id == submission_id)) or 0
            )
        return grades, credentials

    def events(self, submission_id: str) -> list[SubmissionEvent]:
        factory = session_factory(engine_for(f"sqlite:///{self.home / 'grader.db'}"))
        with session_scope(factory) as session:
            return list(session.scalars(select(SubmissionEvent).where(SubmissionEvent.submission_id == submission_id)))


@contextmanager
def webhook(stack: FaultStack, url: str) -> Iterator[str]:
    """An endpoint of the suite's tenant for every event, removed afterwards; yields its id."""
    events = ["submission.graded", "credential.issued", "credential.revoked"]
    with stack.client("admin") as client:
        made = client.post("/api/v1/webhooks", json={"url": url, "events": events})
        assert made.status_code == 201, made.text
        endpoint_id = str(made.json()["id"])
    try:
        yield endpoint_id
    finally:
        with stack.client("admin") as client:
            client.delete(f"/api/v1/webhooks/{endpoint_id}")


def deliveries(stack: FaultStack, endpoint_id: str) -> list[dict[str, Any]]:
    with stack.client("admin") as client:
        found: list[dict[str, Any]] = client.get(f"/api/v1/webhooks/{endpoint_id}/deliveries").json()
    return found


def accepted_per_delivery(receiver: Receiver) -> dict[str, int]:
    """How many times the receiver answered 2xx to each delivery id (the idempotency key it dedupes by)."""
    counts: dict[str, int] = {}
    with receiver.lock:
        for hit in receiver.received:
            if 200 <= hit["answered"] < 300:
                key = hit["headers"]["grader-delivery"]
                counts[key] = counts.get(key, 0) + 1
    return counts


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


class PortReceiver(Receiver):
    """The tests' webhook receiver, on a port chosen beforehand: it can be down (not listening) for a
    while and come up later at the URL the endpoint was registered with."""

    def __init__(self, port: int) -> None:
        self.fixed_port = port
        super().__init__()

    def server_bind(self) -> None:
        self.server_address = ("127.0.0.1", self.fixed_port)
        self.allow_reuse_address = True
        super().server_bind()


@contextmanager
def receiver_on(port: int) -> Iterator[PortReceiver]:
    receiver = PortReceiver(port)
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.shutdown()
        receiver.server_close()


@pytest.fixture(scope="session")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    """The API on SQLite with its own Redis, the ledger assignment published (checked by a pool that
    is stopped afterwards), once for the suite: each test starts the workers it needs."""
    state_dir = Path(tempfile.mkdtemp(prefix="grader-fault-services-"))
    services = start_services(state_dir, postgres=False)
    home = tmp_path_factory.mktemp("fault-home")
    git = LoopbackGitServer(tmp_path_factory.mktemp("fault-git"))
    git.start()
    port = free_port()
    env = stack_env(
        home,
        services.redis_url,
        port,
        git.host,
        queue=f"grader-fault-{port}",
        passphrase="fault-suite passphrase",
        GRADER_STUCK_AFTER_S="3",
        GRADER_RECONCILE_INTERVAL_S="1",
        GRADER_LEASE_TTL_S="10",
        GRADER_JANITOR_INTERVAL_S="2",
        GRADER_JANITOR_GRACE_S="5",
        GRADER_JOB_RETRIES="5",
        GRADER_JOB_RETRY_BASE_S="2",
        GRADER_WEBHOOK_RETRIES="2",
        GRADER_WEBHOOK_RETRY_BASE_S="1",
        GRADER_WEBHOOK_MAX_BACKOFF_S="3",
    )
    stack = Stack(api=f"http://127.0.0.1:{port}", env=env, home=home, git=git)
    stack.cli("db", "upgrade")
    built = subprocess.run([*GRADER, "assignment", "build", str(LEDGER_DIR)], env=env, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    log = home / "api.log"
    with log.open("wb") as handle:
        api = subprocess.Popen(
            [*GRADER, "serve", "--port", str(port)], env=env, stdout=handle, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack.processes.append(api)
    stack.logs.append(log)
    made = FaultStack(stack=stack, services=services, keys={})
    try:
        _wait_ready(stack)
        admin = stack.new_tenant("faults")
        with stack.client(admin) as client:
            keys = {
                scope: client.post("/api/v1/api-keys", json={"scopes": [scope], "name": scope}).json()["key"]
                for scope in ("submit", "author")
            }
        made.keys = {"admin": admin, **keys}
        checker = made.start_pool(concurrency=2)
        with made.client("author") as client:
            upload = client.post(
                "/api/v1/assignments", content=assignment_tarball(LEDGER_DIR), headers={"Content-Type": "application/gzip"}
            )
            assert upload.status_code == 202, upload.text
            check = wait_checked(client, "py-ledger", "1.0.0")
            assert check["status"] == "published", check
        checker.stop()
        made.pools.clear()
        yield made
    finally:
        made.stop_pools()
        for process in stack.processes:
            _stop(process)
        git.stop()
        services.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture
def fault_stack(faults: FaultStack) -> Iterator[FaultStack]:
    """The module's stack with no worker running before the test, and none left after it."""
    faults.stop_pools()
    yield faults
    faults.stop_pools()


def restart_redis_empty(services: Services) -> None:
    """Stop the suite's Redis, throw its data away (the append-only file too) and start it again: every
    queued, scheduled and started job is gone, as after losing a Redis without persistence."""
    script = str(Path(__file__).resolve().parents[2] / "scripts" / "start-services.sh")
    subprocess.run([script, "stop"], env=services.env, check=True, capture_output=True, timeout=60)
    for folder in services.dir.glob("redis-*"):
        shutil.rmtree(folder)
    started = subprocess.run([script], env=services.env, capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, started.stderr
