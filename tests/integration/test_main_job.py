"""The README's main job, both ways: the command-line pipeline and the whole service stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, sandbox_owner_env

pytestmark = pytest.mark.integration


def run_demo(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "GRADER_HOME": str(home),
        "HOME": str(home),
        "COLUMNS": "200",
        **sandbox_owner_env(),
    }
    return subprocess.run(
        [sys.executable, "-m", "grader", "demo", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )


def test_demo_grades_every_solution_as_written_and_issues_verifiable_credentials(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = run_demo(tmp_path / "home", "--out", str(out))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "all grades as expected" in run.stdout
    assert run.stdout.count("verified json:passed") >= 2  # the reference and partial solutions of py-ledger
    credential = json.loads((out / "py-ledger-reference.credential.json").read_text())
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert not (out / "py-ledger-failing.credential.json").exists()
    assert (out / "py-ledger-reference.badge.png").read_bytes().startswith(b"\x89PNG")
    assert "NOT PASSED" in (out / "py-ledger-failing" / "feedback" / "feedback.md").read_text()


def test_demo_on_the_whole_stack(tmp_path: Path) -> None:
    run = run_demo(tmp_path / "home", "--stack")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "the service graded everything as expected" in run.stdout
    assert "py-ledger/reference: 100.0/100.0 passed=True" in run.stdout
