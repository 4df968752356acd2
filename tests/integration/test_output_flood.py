"""Output written around the harness, straight to the container's stdout (pid 1's fd 1), is a graded
failure naming the output limit, in bounded time: it once crashed the worker instead (the container had
already exited when the worker tried to kill it at the cap, and Docker's 409 escaped as a fault of the
system), so the flood never reached the judge. A service flooding its own output fails the same way."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from grader.core.result import GradingResult
from grader.core.spec import LoadedAssignment, load_assignment
from tests.conftest import (
    LEDGER_DIR,
    NOTES_DIR,
    PublishFiles,
    copy_with_spec,
    reference_files_with,
    solution_files,
)

pytestmark = pytest.mark.integration

FLOOD_MB = 50


@pytest.fixture(scope="module")
def ledger_in_mode(tmp_path_factory: pytest.TempPathFactory) -> LoadedAssignment:
    """In-process unit mode: learner code runs in the container whose stdout carries the results.
    (Isolated mode's learner container is read by grader.sandbox.bridge_relay under its own budget.)"""
    target = tmp_path_factory.mktemp("flood") / "py-ledger"

    def edit(spec: dict[str, Any]) -> None:
        spec["mode"] = "unit-inprocess"
        spec["limits"].update(timeout_s=20)
        spec.pop("credential")  # that mode never issues one

    return copy_with_spec(LEDGER_DIR, target, edit)


def flooding(target: str) -> dict[str, str]:
    """The reference solution, plus a shell started at `import ledger` that writes 50 MB to `target`."""
    init = reference_files_with({})["ledger/__init__.py"]
    flood = (
        "import subprocess as _subprocess\n"
        f"_subprocess.run(['/bin/sh', '-c', 'head -c {FLOOD_MB * 1024 * 1024} /dev/zero | tr \"\\\\0\" x "
        f"> {target} 2>/dev/null || true'])\n"
    )
    return reference_files_with({"ledger/__init__.py": flood + init})


@pytest.mark.parametrize("target", ["/proc/1/fd/1", "/dev/stdout"])
def test_a_flood_written_around_the_harness_is_a_graded_failure(
    target: str,
    publish_files: PublishFiles,
    grade_url: Callable[..., GradingResult],
    ledger_in_mode: LoadedAssignment,
    no_leftovers: None,
) -> None:
    started = time.monotonic()
    result = grade_url(publish_files(flooding(target)), ledger_in_mode)
    elapsed = time.monotonic() - started
    grade = result.grade
    assert grade.passed is False and result.credential is None, grade.reason
    details = " ".join(f"{f.code}: {f.detail}" for f in grade.flags)
    assert "output limit exceeded" in f"{grade.reason} {details}", (grade.reason, grade.flags)
    assert elapsed < 60, f"took {elapsed:.1f}s"
    assert len(result.learner_output) <= ledger_in_mode.spec.limits.output_kb * 1024 * 4


def test_a_service_flooding_its_output_is_a_graded_failure(
    publish_files: PublishFiles, grade_url: Callable[..., GradingResult], no_leftovers: None
) -> None:
    """Service mode: the learner's service writes 50 MB to its stdout while it serves."""
    notes = load_assignment(NOTES_DIR)
    files = solution_files(NOTES_DIR, "reference")
    main = files["notes_api/__main__.py"]
    flood = (
        "    import subprocess\n"
        f"    subprocess.Popen(['/bin/sh', '-c', 'head -c {FLOOD_MB * 1024 * 1024} /dev/zero | tr \"\\\\0\" x'])\n"
    )
    files["notes_api/__main__.py"] = main.replace(
        "    server.serve_forever()\n", flood + "    server.serve_forever()\n"
    )
    assert files["notes_api/__main__.py"] != main
    started = time.monotonic()
    result = grade_url(publish_files(files), notes)
    grade = result.grade
    assert grade.passed is False and result.credential is None
    assert grade.reason == f"output limit exceeded: the service wrote more than {notes.spec.limits.output_kb} KB"
    assert time.monotonic() - started < 90
