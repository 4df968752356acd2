"""The API under faults, on the real stack: `grader serve` as its own process on SQLite, Redis from
scripts/start-services.sh, another process holding the database's write lock, hostile uploads.

- the database locked (BEGIN EXCLUSIVE in another process): every POST answers 503 with Retry-After
  while the lock is still held, /healthz and reads answer meanwhile, nothing is half-committed; after
  the unlock, the same request with the same Idempotency-Key makes exactly one submission, enqueued once;
- uploads: a body declared past the cap is refused before it is read, a chunked one once the cap is
  passed (long before its end), an archive bomb is refused by its limit, and /healthz answers during them.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import tarfile
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import cast

import pytest
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import func, select

from grader.demo.stack import free_port
from grader.jobs.queue import connect, grade_job_id
from grader.store import catalog
from grader.store.db import engine_for, session_factory, session_scope
from grader.store.models import AssignmentVersion, Submission
from tests.conftest import LEDGER_DIR
from tests.integration.test_service_stack import Services, Stack, _start, _stop, _wait_ready, redis_service, stack_env

pytestmark = pytest.mark.integration
__all__ = ["redis_service"]

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def api_only(redis_service: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The API alone (no workers: accepted submissions stay queued), on SQLite in its own home."""
    home = tmp_path_factory.mktemp("faults-home")
    port = free_port()
    env = stack_env(
        home,
        redis_service.redis_url,
        port,
        "git.example",
        queue=f"grader-faults-{port}",
        passphrase="api faults passphrase",
        GRADER_REQUEST_DB_WAIT_S="1",
    )
    made = Stack(api=f"http://127.0.0.1:{port}", env=env, home=home, git=None)  # type: ignore[arg-type]
    made.cli("db", "upgrade")
    _start(made, "api", "serve", "--port", str(port))
    try:
        _wait_ready(made)
        yield made
    finally:
        for process in made.processes:
            _stop(process)


def _tarball(root: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "solutions" not in path.parts and "__pycache__" not in path.parts:
                tar.add(path, arcname=path.relative_to(root).as_posix())
    return buffer.getvalue()


@pytest.fixture(scope="module")
def published(api_only: Stack) -> str:
    """A tenant's admin key (which may submit), with py-ledger uploaded and its check settled as passed."""
    admin = api_only.new_tenant(f"faults-{uuid.uuid4().hex[:6]}")
    with api_only.client(admin) as client:
        upload = client.post("/api/v1/assignments", content=_tarball(LEDGER_DIR), headers={"Content-Type": "application/gzip"})
        assert upload.status_code in (200, 202), upload.text
    factory = session_factory(engine_for(_db_url(api_only)))
    with session_scope(factory) as session:  # stands in for the check job (no worker runs here)
        for version in session.scalars(select(AssignmentVersion).where(AssignmentVersion.status == "checking")):
            catalog.settle_check(version, {"rows": [], "problems": []}, [])
    return admin


def _db_url(stack: Stack) -> str:
    return f"sqlite:///{stack.home / 'grader.db'}"


class HeldLock:
    """Another process holding the database's write lock (BEGIN EXCLUSIVE) until released."""

    SCRIPT = (
        "import sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)\n"
        "c.execute('BEGIN EXCLUSIVE')\n"
        "print('locked', flush=True)\n"
        "sys.stdin.readline()\n"
        "c.execute('ROLLBACK')\n"
    )

    def __init__(self, path: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", self.SCRIPT, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None and self.process.stdout.readline().strip() == "locked"

    def held(self) -> bool:
        return self.process.poll() is None

    def release(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        assert self.process.wait(timeout=30) == 0


def _submission_rows(stack: Stack, key: str) -> int:
    factory = session_factory(engine_for(_db_url(stack)))
    with session_scope(factory) as session:
        return session.scalar(select(func.count()).select_from(Submission).where(Submission.idempotency_key == key)) or 0


def test_a_locked_database_answers_503_with_retry_after_and_a_retry_makes_one_submission(
    api_only: Stack, published: str
) -> None:
    body = {"assignment": "py-ledger", "learner": "lock@example.org", "repo_url": "https://git.example/l/ledger.git"}
    key = f"locked-{uuid.uuid4().hex}"
    lock = HeldLock(api_only.home / "grader.db")
    try:
        with api_only.client(published) as client, ThreadPoolExecutor(8) as pool:
            # The client's own timeout is far shorter than the lock: an answer can only come while it is held.
            answers = list(
                pool.map(
                    lambda i: client.post(
                        "/api/v1/submissions", json={**body, "learner": f"l{i}@example.org"}, timeout=15
                    ),
                    range(8),
                )
            )
            refused = client.post("/api/v1/submissions", json=body, headers={"Idempotency-Key": key}, timeout=15)
            health = client.get("/healthz", timeout=15)
            listed = client.get("/api/v1/submissions", timeout=15)  # reads go on in WAL mode
        assert lock.held()
        for answer in [*answers, refused]:
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert answer.json()["type"] == "/problems/database-busy"
            assert int(answer.headers["Retry-After"]) >= 1
            assert "Idempotency-Key" in answer.json()["detail"]
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert listed.status_code == 200
    finally:
        lock.release()
    assert _submission_rows(api_only, key) == 0  # nothing of the refused request was written

    with api_only.client(published) as client:
        accepted = client.post("/api/v1/submissions", json=body, headers={"Idempotency-Key": key})
        again = client.post("/api/v1/submissions", json=body, headers={"Idempotency-Key": key})
    assert accepted.status_code == 201, accepted.text
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == accepted.json()["id"]
    assert _submission_rows(api_only, key) == 1
    redis = connect(api_only.env["GRADER_REDIS_URL"])
    job = Job.fetch(grade_job_id(accepted.json()["id"], 1), connection=redis, serializer=JSONSerializer)
    assert job.args == [accepted.json()["id"]]
    queued = cast(list[bytes], redis.lrange(f"rq:queue:{api_only.env['GRADER_QUEUE_NAME']}", 0, -1))
    assert [j.decode() for j in queued].count(job.id) == 1


def _raw_request(api: str, head: str, body_chunks: Iterator[bytes]) -> tuple[int, dict[str, str], bytes, int]:
    """Send a request over a plain socket, the body from another thread (so a server that answers
    early is heard); returns the status, headers, body and how many body bytes had been sent."""
    host, port = api.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    sent = [0]

    def send() -> None:
        try:
            sock.sendall(head.encode())
            for chunk in body_chunks:
                sock.sendall(chunk)
                sent[0] += len(chunk)
        except OSError:
            pass  # the server answered and closed: what it read is all it needed

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    reply = b""
    while b"\r\n\r\n" not in reply:
        data = sock.recv(65536)
        if not data:
            break
        reply += data
    head_bytes, _, rest = reply.partition(b"\r\n\r\n")
    lines = head_bytes.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        data = sock.recv(65536)
        if not data:
            break
        rest += data
    sock.close()
    return int(lines[0].split()[1]), headers, rest, sent[0]


def test_an_upload_past_the_cap_is_refused_while_it_is_read(api_only: Stack, published: str) -> None:
    admin = api_only.new_tenant(f"uploads-{uuid.uuid4().hex[:6]}")
    total = 300 * MiB
    # Declared too large: refused before the body is read.
    status, _, body, _ = _raw_request(
        api_only.api,
        f"POST /api/v1/assignments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n"
        f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {total}\r\n\r\n",
        iter([b"\0" * MiB] * 300),
    )
    assert status == 413 and json.loads(body)["type"] == "/problems/too-large"

    # Chunked (no length): refused once the cap is passed, with most of the 300 MiB never sent.
    def chunks() -> Iterator[bytes]:
        preamble = b'--b\r\nContent-Disposition: form-data; name="files"; filename="big.bin"\r\n\r\n'
        yield b"%x\r\n%s\r\n" % (len(preamble), preamble)
        for _ in range(300):
            yield b"%x\r\n%s\r\n" % (MiB, b"\0" * MiB)

    status, _, body, sent = _raw_request(
        api_only.api,
        f"POST /api/v1/assignments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n",
        chunks(),
    )
    assert status == 413 and json.loads(body)["type"] == "/problems/too-large"
    assert sent < total


def _bomb(size: int) -> bytes:
    """A gzip tarball of one file of `size` zero bytes: about a thousandth of that on the wire."""

    class Zeros(io.RawIOBase):
        def __init__(self) -> None:
            self.left = size

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            n = min(len(buffer), self.left)
            buffer[:n] = bytes(n)
            self.left -= n
            return n

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        info = tarfile.TarInfo("assignment.yaml")
        info.size = size
        tar.addfile(info, io.BufferedReader(Zeros(), MiB))
    return out.getvalue()


def test_archive_bombs_are_refused_and_healthz_answers_meanwhile(api_only: Stack) -> None:
    admin = api_only.new_tenant(f"bombs-{uuid.uuid4().hex[:6]}")
    bomb = _bomb(256 * MiB)
    with api_only.client(admin) as client, ThreadPoolExecutor(6) as pool:
        uploads = [
            pool.submit(
                client.post, "/api/v1/assignments", content=bomb, headers={"Content-Type": "application/gzip"}, timeout=60
            )
            for _ in range(4)
        ]
        health = [client.get("/healthz", timeout=15) for _ in range(5)]
        answers = [u.result() for u in uploads]
    assert all(h.status_code == 200 for h in health)
    for answer in answers:
        assert answer.status_code == 422, answer.text
        assert answer.json()["type"] == "/problems/bad-archive"
        assert "unpacks to more than 50 MiB" in answer.json()["detail"]
