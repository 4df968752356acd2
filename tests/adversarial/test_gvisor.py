"""gVisor: unit-mode sandboxes run under runsc where the engine offers it, and GRADER_REQUIRE_GVISOR=1
refuses to grade (unit or service mode) wherever learner code would run outside it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader.demo.gitserver import LoopbackGitServer
from grader.sandbox.containers import SandboxUnavailable, leftover_containers
from grader.sandbox.engine import available_runtimes
from tests.adversarial.conftest import LEDGER_DIR, notes_files, reference_with

RUNSC_OFFERED = "runsc" in available_runtimes()


def test_unit_mode_runs_under_runsc_where_offered(attack, no_leftovers) -> None:
    """The learner's code itself sees which kernel it runs on: gVisor's Sentry reports its own."""
    files = reference_with("import platform as _platform\nprint('KERNEL', _platform.release(), flush=True)\n")
    result = attack(files)
    assert result.grade.passed and result.grade.percent == 100.0
    kernel = result.learner_output.split("KERNEL ", 1)[1].split()[0]
    if RUNSC_OFFERED:
        assert result.evidence.runtime == "runsc"
        assert kernel != os.uname().release  # not the host's kernel: gVisor's
    else:
        assert result.evidence.runtime == "runc"
        assert kernel == os.uname().release


def test_require_gvisor_with_runc_refuses_to_grade(attack, grading_settings, no_leftovers) -> None:
    """Forcing runc while gVisor is required: refused before any container starts."""
    strict = grading_settings.model_copy(update={"require_gvisor": True, "runtime": "runc"})
    with pytest.raises(SandboxUnavailable, match="gVisor is required"):
        attack(reference_with(""), settings=strict)
    assert leftover_containers() == []


def test_require_gvisor_grades_under_runsc_or_refuses(attack, grading_settings, no_leftovers) -> None:
    strict = grading_settings.model_copy(update={"require_gvisor": True})
    if RUNSC_OFFERED:
        result = attack(reference_with(""), settings=strict)
        assert result.evidence.runtime == "runsc" and result.grade.percent == 100.0
    else:
        with pytest.raises(SandboxUnavailable):
            attack(reference_with(""), settings=strict)


def test_require_gvisor_refuses_service_mode(attack, grading_settings, quick_notes, no_leftovers) -> None:
    """Service mode needs a network, which runsc here cannot give: with gVisor required, it is refused."""
    strict = grading_settings.model_copy(update={"require_gvisor": True})
    with pytest.raises(SandboxUnavailable, match="service mode needs a container network"):
        attack(notes_files("reference"), assignment=quick_notes, settings=strict)


def test_require_gvisor_from_the_environment(git_server: LoopbackGitServer, publish_solution, tmp_path: Path) -> None:
    """GRADER_REQUIRE_GVISOR=1 with GRADER_RUNTIME=runc: the CLI refuses as a system fault (exit 1)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "GRADER_HOME": str(tmp_path),
        "GRADER_REQUIRE_GVISOR": "1",
        "GRADER_RUNTIME": "runc",
    }
    command = [
        sys.executable,
        "-m",
        "grader.cli.main",
        "grade",
        publish_solution("reference"),
        "--assignment",
        str(LEDGER_DIR),
        "--no-credential",
        "--allow-host",
        git_server.host,
        "--allow-scheme",
        "http",
    ]
    run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "gVisor is required" in " ".join(run.stderr.split())
