"""The CLI's exit codes come from grader.core.errors' one mapping, through the real CLI process: a learner's
or an author's fault exits 2 with a message naming what to fix, a fault of the system exits 1, and
neither prints a traceback."""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path

import pytest

from grader.demo.gitserver import LoopbackGitServer
from tests.conftest import LEDGER_DIR, LEDGER_SOLUTIONS, copy_with_spec
from tests.integration.test_grading import grader_cli

pytestmark = pytest.mark.integration


def assert_no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr[-3000:]


def test_a_package_that_does_not_exist_is_the_authors_fault(tmp_path: Path) -> None:
    package = f"grader-no-such-package-{uuid.uuid4().hex[:8]}==1.0"
    broken = copy_with_spec(LEDGER_DIR, tmp_path / "broken", lambda spec: spec.update(packages=[package]))
    run = grader_cli("assignment", "build", str(broken.root), home=tmp_path / "home")
    assert run.returncode == 2, run.stdout + run.stderr
    message = " ".join(run.stderr.split())
    assert "assignment.yaml" in message and "packages" in message and package.split("==")[0] in message
    assert "assignment error" in message
    assert_no_traceback(run.stderr)


def test_a_git_host_the_grader_cannot_reach_is_a_fault_of_the_system(tmp_path: Path) -> None:
    server = LoopbackGitServer(tmp_path / "stopped")
    server.start()
    url = server.publish(f"gone-{secrets.token_hex(4)}", LEDGER_SOLUTIONS / "reference")
    server.stop()
    run = grader_cli(
        "grade", url, "-a", str(LEDGER_DIR), "--allow-host", server.host, "--allow-scheme", "http",
        home=tmp_path / "home",
    )  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr
    message = " ".join(run.stderr.split())
    assert "fetch failed (system fault)" in message and "could not reach the git host" in message
    assert_no_traceback(run.stderr)


def test_a_missing_repository_is_still_the_learners_fault(git_server: LoopbackGitServer, tmp_path: Path) -> None:
    run = grader_cli(
        "grade", git_server.url(f"absent-{secrets.token_hex(4)}"), "-a", str(LEDGER_DIR),
        "--allow-host", git_server.host, "--allow-scheme", "http", home=tmp_path / "home",
    )  # fmt: skip
    assert run.returncode == 2, run.stdout + run.stderr
    assert "fetch failed" in run.stderr and "system fault" not in run.stderr
    assert_no_traceback(run.stderr)
