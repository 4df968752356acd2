"""The main job on the whole service stack: Redis, the API and queue workers on one machine.

Each bundled solution is submitted over HTTP as an LMS would, graded by a worker in Docker, followed
over Server-Sent Events, checked against `solutions/expected.yaml`; each credential is verified by
the API and offline from what the service publishes (its did.json and status list).
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml
from rich.console import Console

from credentials.verify import verify_credential
from grader.config import Settings
from grader.core.spec import load_assignment
from grader.demo.gitserver import LoopbackGitServer

ROOT = Path(__file__).resolve().parents[2]
GRADER = [sys.executable, "-m", "grader"]
GRADE_TIMEOUT_S = 600
CHECK_TIMEOUT_S = 900  # the reference and every known-bad solution, each a grading run


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assignment_tarball(folder: Path) -> bytes:
    """The assignment folder as an author uploads it, solutions included: the service checks the upload by
    grading them (`grader assignment check`) before it takes submissions."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder)
            if path.is_file() and "__pycache__" not in rel.parts:
                tar.add(path, arcname=f"{folder.name}/{rel.as_posix()}")
    return buffer.getvalue()


@contextmanager
def redis_on_loopback(state_dir: Path) -> Iterator[str]:
    env = {**os.environ, "GRADER_SERVICES_DIR": str(state_dir), "REDIS_PORT": str(free_port())}
    script = str(ROOT / "scripts" / "start-services.sh")
    started = subprocess.run([script], env=env, capture_output=True, text=True, timeout=180, check=True)
    urls = dict(line.split("=", 1) for line in started.stdout.split() if "=" in line)
    try:
        yield urls["GRADER_REDIS_URL"]
    finally:
        subprocess.run([script, "stop"], env=env, capture_output=True, check=False)


@contextmanager
def api_and_workers(env: dict[str, str], port: int, log: Path, workers: int) -> Iterator[str]:
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [*GRADER, "serve", "--port", str(port), "--grading-workers", str(workers)],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None:
                raise RuntimeError(f"the API exited: {log.read_text()[-2000:]}")
            time.sleep(0.3)
        else:
            raise RuntimeError(f"the API did not become ready: {log.read_text()[-2000:]}")
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def approve_if_held(client: httpx.Client, done: dict[str, Any], err: Console, timeout_s: float = 60) -> dict[str, Any]:
    """The bundled solutions of an assignment share their author's code, so a later one is held for review
    (docs/authenticity.md): the demo, as the instructor, approves it and waits for the credential. Returns
    the submission as it then is (unchanged when it was not held)."""
    queue = client.get("/api/v1/reviews").json().get("items", [])
    review = next((r for r in queue if r["submission_id"] == done["id"]), None)
    if review is None:
        return done
    kinds = ", ".join(sorted({f["kind"] for f in review["flags"]}))
    err.print(f"  held for review ({kinds}); approved by the demo as the instructor")
    client.post(f"/api/v1/reviews/{review['id']}/decision", json={"approve": True}).raise_for_status()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        current: dict[str, Any] = client.get(f"/api/v1/submissions/{done['id']}").json()
        if current.get("credential_id"):
            return current
        time.sleep(0.5)
    return current


def follow_to_the_end(client: httpx.Client, submission_id: str, err: Console) -> str:
    """Read the submission's SSE stream until it ends; returns the last state."""
    state, name = "", ""
    with client.stream("GET", f"/api/v1/submissions/{submission_id}/events", timeout=GRADE_TIMEOUT_S) as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and name == "state":
                new = json.loads(line.split(":", 1)[1])["state"]
                if new != state:
                    err.print(f"  [dim]{submission_id[:8]}[/] {new}")
                state = new
            elif line.startswith("data:") and name == "end":
                break
    return state


def wait_checked(client: httpx.Client, slug: str, version: str, timeout: float = CHECK_TIMEOUT_S) -> dict[str, Any]:
    """Poll an uploaded version until its check has settled; returns the check (GET …/check).
    Raises TimeoutError when it is still checking after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        check = client.get(f"/api/v1/assignments/{slug}/versions/{version}/check")
        check.raise_for_status()
        body: dict[str, Any] = check.json()
        if body["status"] != "checking":
            return body
        if time.monotonic() > deadline:
            raise TimeoutError(f"{slug} {version} still checking after {timeout:.0f} s: {body['detail']}")
        time.sleep(0.5)


def _check_credential(client: httpx.Client, base: str, tenant: str, credential_id: str) -> list[str]:
    by_api = client.get(f"/api/v1/credentials/{credential_id}/verify").json()
    document = client.get(f"/api/v1/credentials/{credential_id}").json()["document"]
    status_list = httpx.get(document["credentialStatus"]["statusListCredential"], timeout=10).json()
    did = httpx.get(f"{base}/tenants/{tenant}/did.json", timeout=10).json()
    offline = verify_credential(document, status_list=status_list, did_documents=[did], require_evidence=True)
    problems = [] if by_api.get("verified") else [f"API verify: {by_api.get('errors')}"]
    return problems + [f"offline verify: {e}" for e in offline.errors]


def run_stack_demo(assignments_dir: Path, settings: Settings, out: Console, err: Console, workers: int = 2) -> int:
    from grader.demo.local import expected_mismatches

    failures = 0
    tenant = "demo"
    with tempfile.TemporaryDirectory(prefix="grader-stack-") as tmp, LoopbackGitServer(Path(tmp) / "git") as git:
        home = Path(tmp) / "home"
        port = free_port()
        with redis_on_loopback(Path(tmp) / "services") as redis_url:
            env = {
                **os.environ,
                "GRADER_HOME": str(home),
                "GRADER_REDIS_URL": redis_url,
                "GRADER_PUBLIC_URL": f"http://127.0.0.1:{port}",
                "GRADER_ALLOWED_HOSTS": json.dumps([*settings.allowed_hosts, git.host]),
                "GRADER_ALLOWED_SCHEMES": json.dumps(sorted({*settings.allowed_schemes, "http"})),
            }
            subprocess.run([*GRADER, "db", "upgrade"], env=env, check=True, capture_output=True)
            made = subprocess.run(
                [*GRADER, "tenant", "create", tenant, "--name", "Demo Academy", "--json"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            key = json.loads(made.stdout)["admin_key"]
            err.print(f"[bold]stack[/] Redis {redis_url}, API and {workers} workers on 127.0.0.1:{port}")
            with (
                api_and_workers(env, port, Path(tmp) / "serve.log", workers) as base,
                httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client,
            ):
                for folder in sorted(p.parent.parent for p in assignments_dir.glob("*/solutions/expected.yaml")):
                    spec = load_assignment(folder).spec
                    upload = client.post(
                        "/api/v1/assignments",
                        content=assignment_tarball(folder),
                        headers={"Content-Type": "application/gzip"},
                    )
                    upload.raise_for_status()
                    check = wait_checked(client, spec.id, spec.version)
                    err.print(f"[bold]{spec.id} {spec.version}[/] upload checked: {check['status']}")
                    if check["status"] != "published":
                        out.print(f"{spec.id}: the service refused the upload: {check['detail']}", markup=False)
                        failures += 1
                        continue
                    expected_all = yaml.safe_load((folder / "solutions" / "expected.yaml").read_text())
                    for name, expected in expected_all.items():
                        url = git.publish(f"{spec.id}-{name}", folder / "solutions" / name)
                        created = client.post(
                            "/api/v1/submissions",
                            json={"assignment": spec.id, "learner": f"{name}@example.org", "repo_url": url},
                            headers={"Idempotency-Key": f"demo-{spec.id}-{name}"},
                        )
                        created.raise_for_status()
                        submission_id = created.json()["id"]
                        err.print(f"[bold]{spec.id}/{name}[/] submitted as {submission_id}")
                        final = follow_to_the_end(client, submission_id, err)
                        grade = client.get(f"/api/v1/submissions/{submission_id}/grade").json()["grade"]
                        problems = [] if final == "graded" else [f"ended in state {final}"]
                        problems += expected_mismatches(_as_grade(grade), expected)
                        done = client.get(f"/api/v1/submissions/{submission_id}").json()
                        if grade["passed"] and not done.get("credential_id"):
                            done = approve_if_held(client, done, err)
                        if grade["passed"]:
                            if not done.get("credential_id"):
                                problems.append("no credential for a passing grade")
                            else:
                                problems += _check_credential(client, base, tenant, done["credential_id"])
                        elif done.get("credential_id"):
                            problems.append("a failing grade was issued a credential")
                        failures += bool(problems)
                        verdict = "[green]as expected[/]" if not problems else "[red]" + "; ".join(problems) + "[/]"
                        out.print(
                            f"{spec.id}/{name}: {grade['score']}/{grade['max_score']} "
                            f"passed={grade['passed']} credential={done.get('credential_id')} {verdict}"
                        )
    out.print(
        "[green]the service graded everything as expected[/]" if not failures else f"[red]{failures} problem(s)[/]"
    )
    return 1 if failures else 0


def _as_grade(document: dict[str, Any]) -> Any:
    from grader.core.grade import Grade

    return Grade.model_validate(document)
