"""A learner's crash, hang, fork bomb, memory bomb, flood or network use is a graded failure with a
reason, in bounded time, with nothing left behind and the worker unharmed."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from grader.core.result import GradingResult
from grader.core.spec import LoadedAssignment
from tests.conftest import LEDGER_DIR, PublishFiles, copy_with_spec, reference_files_with

pytestmark = pytest.mark.integration

TIMEOUT_S = 8


@pytest.fixture(scope="module")
def quick_ledger(tmp_path_factory: pytest.TempPathFactory) -> LoadedAssignment:
    """The ledger assignment with a short deadline, so hangs are cut quickly."""
    target = tmp_path_factory.mktemp("quick") / "py-ledger"
    return copy_with_spec(LEDGER_DIR, target, lambda spec: spec["limits"].update(timeout_s=TIMEOUT_S))


def hostile(init_prefix: str) -> dict[str, str]:
    """The reference solution, with code run at `import ledger` placed before it."""
    reference_init = reference_files_with({})["ledger/__init__.py"]
    return reference_files_with({"ledger/__init__.py": init_prefix + "\n" + reference_init})


def grade_hostile(
    files: dict[str, str],
    publish_files: PublishFiles,
    grade_url: Callable[..., GradingResult],
    assignment: LoadedAssignment,
) -> tuple[GradingResult, float]:
    url = publish_files(files)
    started = time.monotonic()
    result = grade_url(url, assignment)
    return result, time.monotonic() - started


def assert_failed_within_deadline(result: GradingResult, elapsed: float, reason_part: str) -> None:
    grade = result.grade
    assert grade.passed is False
    assert result.credential is None
    assert reason_part in grade.reason, grade.reason
    # The spec's timeout plus a few seconds for container start, image check and fetch.
    assert elapsed < TIMEOUT_S + 20, f"took {elapsed:.1f}s"


def test_infinite_loop_is_cut_at_the_deadline(publish_files, grade_url, quick_ledger, no_leftovers) -> None:
    files = reference_files_with(
        {"ledger/reports.py": reference_files_with({})["ledger/reports.py"] + "\nwhile True:\n    pass\n"}
    )
    result, elapsed = grade_hostile(files, publish_files, grade_url, quick_ledger)
    assert_failed_within_deadline(result, elapsed, "time limit exceeded")
    assert not result.grade.tampered


def test_fork_bomb_is_contained(publish_files, grade_url, quick_ledger, no_leftovers) -> None:
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    result, elapsed = grade_hostile(hostile(bomb), publish_files, grade_url, quick_ledger)
    assert_failed_within_deadline(result, elapsed, "limit exceeded")
    assert result.grade.score == 0.0


def test_memory_bomb_is_killed(publish_files, grade_url, quick_ledger, no_leftovers) -> None:
    bomb = "hog = b'x' * (10 * 1024 ** 3)\n"
    result, elapsed = grade_hostile(hostile(bomb), publish_files, grade_url, quick_ledger)
    grade = result.grade
    assert grade.passed is False and result.credential is None
    assert "memory" in grade.reason.lower() or "MemoryError" in " ".join(t.message for t in grade.tests), grade.reason
    assert elapsed < TIMEOUT_S + 20


def test_output_flood_is_capped(publish_files, grade_url, quick_ledger, no_leftovers) -> None:
    flood = "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * (1024 * 1024))\nsys.stdout.flush()\n"
    result, elapsed = grade_hostile(hostile(flood), publish_files, grade_url, quick_ledger)
    assert_failed_within_deadline(result, elapsed, "output limit exceeded")
    assert len(result.learner_output) <= quick_ledger.spec.limits.output_kb * 1024


def test_network_connection_fails_inside_the_sandbox(publish_files, grade_url, quick_ledger, no_leftovers) -> None:
    probe = (
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('1.1.1.1', 53), timeout=2)\n"
        "    raise SystemExit('network reachable')\n"
        "except OSError as exc:\n"
        "    raise ImportError(f'no network: {exc}')\n"
    )
    result, elapsed = grade_hostile(hostile(probe), publish_files, grade_url, quick_ledger)
    grade = result.grade
    assert grade.passed is False and result.credential is None
    messages = " ".join(t.message for t in grade.tests)
    assert "no network" in messages
    assert "network reachable" not in messages
    assert elapsed < TIMEOUT_S + 20


def test_crash_at_import_fails_every_test_with_the_reason(publish_files, grade_url, quick_ledger, no_leftovers) -> None:
    result, _ = grade_hostile(
        hostile("raise RuntimeError('learner bug at import')"), publish_files, grade_url, quick_ledger
    )
    grade = result.grade
    assert grade.passed is False and grade.score == 0.0 and result.credential is None
    assert not grade.tampered, grade.flags
    assert all(t.outcome.value in ("missing", "error", "failed") for t in grade.tests)
    assert any("learner bug at import" in t.message for t in grade.tests)


def test_worker_is_unharmed_after_hostile_runs(
    publish_solution, grade_url, quick_ledger, grading_settings, no_leftovers
) -> None:
    """After every attack above, the same process still grades the reference solution at 100%,
    and no work folder or fetch scratch folder is left behind."""
    result = grade_url(publish_solution("reference"), quick_ledger)
    assert result.grade.passed and result.grade.percent == 100.0
    assert list(grading_settings.work_dir.iterdir()) == []  # fetch scratch included: it lives in the workspace
