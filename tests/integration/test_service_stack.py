"""The real service stack for integration tests: Redis (and PostgreSQL) started by
scripts/start-services.sh, the API under uvicorn and rq workers as separate processes, driven over
HTTP. Other service test modules import these fixtures; the checks here are of the stack itself."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from grader.demo.gitserver import LoopbackGitServer
from grader.demo.stack import free_port

ROOT = Path(__file__).resolve().parents[2]
GRADER = [sys.executable, "-c", "from grader.cli.main import app; app()"]
pytestmark = pytest.mark.integration


@dataclass
class Services:
    dir: Path
    redis_url: str
    database_url: str | None
    env: dict[str, str]

    def stop(self) -> None:
        subprocess.run([str(ROOT / "scripts/start-services.sh"), "stop"], env=self.env, check=False)


def start_services(state_dir: Path, postgres: bool) -> Services:
    """Run the project's own script, as a developer would, on ports nobody else uses."""
    env = {
        **os.environ,
        "GRADER_SERVICES_DIR": str(state_dir),
        "REDIS_PORT": str(free_port()),
        "PG_PORT": str(free_port()),
    }
    args = [str(ROOT / "scripts/start-services.sh")] + (["postgres"] if postgres else [])
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    urls = dict(line.split("=", 1) for line in result.stdout.split() if "=" in line)
    return Services(state_dir, urls["GRADER_REDIS_URL"], urls.get("GRADER_DATABASE_URL"), env)


@contextmanager
def running_services(postgres: bool) -> Iterator[Services]:
    # Not under pytest's basetemp: other pytest sessions on this machine prune old basetemps, and a
    # database whose folder vanished could no longer be stopped by the script.
    state_dir = Path(tempfile.mkdtemp(prefix="grader-test-services-"))
    services = start_services(state_dir, postgres=postgres)
    try:
        yield services
    finally:
        services.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_service() -> Iterator[Services]:
    with running_services(postgres=False) as services:
        yield services


@pytest.fixture(scope="session")
def postgres_service() -> Iterator[Services]:
    with running_services(postgres=True) as services:
        yield services


class Receiver(ThreadingHTTPServer):
    """A provider's webhook endpoint: records every request. An event of type T whose body contains X
    is answered with the statuses queued in `script[(T, X)]` (then 200); every other with 200."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.received: list[dict[str, Any]] = []
        self.script: dict[tuple[str, str], list[int]] = {}
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks"

    def wait_for(self, predicate: Any, timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [r for r in self.received if predicate(r)]
            if found:
                return found
            time.sleep(0.2)
        raise AssertionError(f"no matching webhook within {timeout}s; got {[r['event'] for r in self.received]}")


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            kind = json.loads(body).get("type")
            queued = next(
                (v for (t, x), v in self.server.script.items() if t == kind and x.encode() in body and v), None
            )
            status = queued.pop(0) if queued else 200
            self.server.received.append(
                {
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                    "event": json.loads(body).get("type"),
                    "answered": status,
                    "at": time.time(),
                }
            )
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


@dataclass
class Stack:
    api: str
    env: dict[str, str]
    home: Path
    git: LoopbackGitServer
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def cli(self, *args: str) -> str:
        result = subprocess.run([*GRADER, *args], env=self.env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.api, headers=headers, timeout=30)

    def new_tenant(self, slug: str) -> str:
        """A tenant made with the CLI, as an operator would; returns its admin key."""
        made = json.loads(self.cli("tenant", "create", slug, "--json"))
        return str(made["admin_key"])

    def tail_logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-4000:]}" for p in self.logs if p.exists())


def _start(stack: Stack, name: str, *args: str) -> None:
    log = stack.home / f"{name}.log"
    handle = log.open("wb")
    process = subprocess.Popen(
        [*GRADER, *args], env=stack.env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )
    stack.processes.append(process)
    stack.logs.append(log)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _wait_ready(stack: Stack, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{stack.api}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        for process in stack.processes:
            assert process.poll() is None, f"a service process exited early:\n{stack.tail_logs()}"
        time.sleep(0.3)
    raise AssertionError(f"API not ready in {timeout}s:\n{stack.tail_logs()}")


def stack_env(
    home: Path, redis_url: str, port: int, git_host: str, *, queue: str, passphrase: str, **extra: str
) -> dict[str, str]:
    """The environment of a service started on loopback for tests: its own home, Redis, queue and keys,
    learners' repositories allowed from the loopback git server, outbound requests to loopback allowed;
    `extra` adds or overrides settings."""
    return {
        **os.environ,
        "GRADER_HOME": str(home),
        "GRADER_REDIS_URL": redis_url,
        "GRADER_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "GRADER_ALLOWED_HOSTS": json.dumps([git_host]),
        "GRADER_ALLOWED_SCHEMES": json.dumps(["http", "https"]),
        "GRADER_FETCH_TIMEOUT_S": "20",
        "GRADER_QUEUE_NAME": queue,
        "GRADER_JOB_RETRY_BASE_S": "1",
        "GRADER_LEARNER_SUBMISSIONS_PER_HOUR": "1000",
        "GRADER_KEY_PASSPHRASE": passphrase,
        "GRADER_KEYS_DIR": str(home / "keys"),
        # Webhook receivers and LMS platforms of the tests listen on loopback, which the outbound guard refuses.
        "GRADER_OUTBOUND_ALLOW": json.dumps(["127.0.0.1"]),
        **extra,
    }


@pytest.fixture(scope="session")
def stack(redis_service: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """API + 2 workers on SQLite (the one-machine default), with a loopback git server for learners."""
    home = tmp_path_factory.mktemp("stack-home")
    git = LoopbackGitServer(tmp_path_factory.mktemp("stack-git"))
    git.start()
    port = free_port()
    env = stack_env(
        home,
        redis_service.redis_url,
        port,
        git.host,
        queue=f"grader-test-{port}",
        passphrase="integration-test passphrase",  # tenants get issuer keys at creation
        GRADER_WEBHOOK_RETRY_BASE_S="2",
        GRADER_WEBHOOK_RETRIES="3",
        GRADER_STUCK_AFTER_S="4",
        GRADER_RECONCILE_INTERVAL_S="1",
    )
    made = Stack(api=f"http://127.0.0.1:{port}", env=env, home=home, git=git)
    made.cli("db", "upgrade")
    _start(made, "api", "serve", "--port", str(port))
    _start(made, "worker", "worker", "--concurrency", "2")
    try:
        _wait_ready(made)
        yield made
    finally:
        for process in made.processes:
            _stop(process)
        git.stop()


def test_stack_is_ready_and_serves_its_openapi_document(stack: Stack) -> None:
    with stack.client() as client:
        ready = client.get("/readyz").json()
        assert ready == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}
        document = client.get("/api/v1/openapi.json").json()
    assert document["info"]["title"] == "Grader API"
    assert "/api/v1/submissions" in document["paths"]
    assert "Idempotency-Key" in json.dumps(document["paths"]["/api/v1/submissions"]["post"])
