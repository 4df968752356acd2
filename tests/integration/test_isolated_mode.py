"""Isolated unit mode against the real engine: the learner's package in its own container, the author's
suites in the tester's, every learner object a proxy. Ordinary pytest patterns work unchanged; a
learner that hangs, crashes or floods fails the test it was in, not the run; and nothing of the tester
is within the learner's reach."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from grader.config import Settings
from grader.core.result import GradingResult
from grader.core.spec import LoadedAssignment, load_assignment
from grader.grading.pipeline import grade_repository
from grader.issuing.local import local_issuer as make_issuer
from tests.conftest import LEDGER_DIR, PublishFiles, copy_with_spec, solution_files

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parent.parent / "data"
INVENTORY_DIR = DATA / "assignments" / "py-inventory"
PROBE_DIR = DATA / "assignments" / "py-probe"


@pytest.fixture(scope="module")
def inventory() -> LoadedAssignment:
    return load_assignment(INVENTORY_DIR)


@pytest.fixture(scope="module")
def grade_files(publish_files: PublishFiles, grading_settings: Settings) -> Callable[..., GradingResult]:
    def run(files: dict[str, str], assignment: LoadedAssignment) -> GradingResult:
        return grade_repository(
            publish_files(files), assignment, grading_settings, issuer=make_issuer(grading_settings)
        )

    return run


def inventory_with(overrides: dict[str, str]) -> dict[str, str]:
    return solution_files(INVENTORY_DIR, "reference", overrides)


def method_starting_with(method: str, *lines: str) -> dict[str, str]:
    """The reference solution, with `lines` run first whenever Inventory.`method` (or a module function)
    is called."""
    core = solution_files(INVENTORY_DIR, "reference")["inventory/core.py"]
    header = next(line for line in core.splitlines(keepends=True) if line.lstrip().startswith(f"def {method}("))
    indent = header[: len(header) - len(header.lstrip())] + "    "
    body = "".join(indent + line + "\n" for line in lines)
    return inventory_with({"inventory/core.py": core.replace(header, header + body, 1)})


def outcomes(result: GradingResult) -> dict[str, str]:
    return {t.id: t.outcome for t in result.grade.tests}


def messages(result: GradingResult) -> dict[str, str]:
    return {t.id: t.message for t in result.grade.tests}


def test_the_patterns_authors_use_work_unchanged(inventory, grade_files, no_leftovers) -> None:
    """Fixtures (in a conftest importing the learner's package at top level), helper modules, isinstance,
    pytest.raises and except on learner exceptions, parametrize with ids, parametrized fixtures, test
    classes, monkeypatch of a learner module attribute (and its undo), capsys of what the learner printed,
    callbacks, containers the learner returns, enums, context managers, tmp_path and markers."""
    result = grade_files(inventory_with({}), inventory)
    failed = {k: v for k, v in outcomes(result).items() if v != "passed"}
    assert failed == {}, {k: messages(result)[k][-800:] for k in failed}
    assert result.grade.score == 100.0 and result.grade.passed
    # The one flag is the audit of the callbacks: which functions of the tests the learner's code ran.
    [audit] = result.grade.flags
    assert audit.code == "learner-callbacks" and not audit.tripwire
    assert "double" in audit.detail and "time(s)" in audit.detail
    assert result.grade.mode == "unit" and result.evidence.mode == "unit"
    assert len(result.grade.tests) == 23  # parameter sets included


def test_a_wrong_answer_is_a_plain_failure(inventory, grade_files, no_leftovers) -> None:
    core = solution_files(INVENTORY_DIR, "reference")["inventory/core.py"]
    files = inventory_with({"inventory/core.py": core.replace('return sorted(self._items)', 'return list(self._items)')})
    result = grade_files(files, inventory)
    assert outcomes(result)["test_objects.py::test_returned_containers"] == "failed"
    assert "['H-1', 'A-1']" in messages(result)["test_objects.py::test_returned_containers"]
    assert not result.grade.tampered


def test_a_hanging_call_fails_its_test_alone(inventory, grade_files, no_leftovers) -> None:
    """A learner method that never returns: its test fails after the call limit; the learner's process is
    restarted, and every other test still passes."""
    started = time.monotonic()
    result = grade_files(method_starting_with("total_value", "while True:", "    pass"), inventory)
    elapsed = time.monotonic() - started
    failed = {k for k, v in outcomes(result).items() if v != "passed"}
    assert failed == {"test_objects.py::test_returned_containers", "test_objects_hidden.py::test_food_value"}
    assert "did not answer within 5 s" in messages(result)["test_objects.py::test_returned_containers"]
    assert {f.code for f in result.grade.flags} == {"learner-restarted", "learner-callbacks"}
    assert not result.grade.tampered
    assert elapsed < 60


def test_a_crashing_process_fails_its_test_alone(inventory, grade_files, no_leftovers) -> None:
    result = grade_files(method_starting_with("apply", "import os", "os._exit(3)"), inventory)
    failed = {k for k, v in outcomes(result).items() if v != "passed"}
    assert failed == {"test_patching.py::test_a_function_of_the_tests_as_a_callback"}
    assert "exited with code 3" in messages(result)["test_patching.py::test_a_function_of_the_tests_as_a_callback"]
    assert not result.grade.tampered


def test_a_flood_of_output_is_an_output_limit(inventory, grade_files, no_leftovers) -> None:
    """Straight to the container's stdout (the bridge channel), without end: each learner container doing it
    is killed and fails its test; after three the learner's side is stopped, "output limit exceeded"."""
    flood = method_starting_with("skus", "out = open('/proc/1/fd/1', 'wb')", "while True:", "    out.write(b'x' * 65536)")
    result = grade_files(flood, inventory)
    assert result.grade.passed is False and result.credential is None
    assert result.grade.reason.startswith("output limit exceeded: the learner's code wrote"), result.grade.reason
    assert outcomes(result)["test_objects.py::test_isinstance_and_dataclass_equality"] == "passed"


def test_garbage_on_the_channel_fails_the_call_and_a_fresh_process_serves_the_next(
    inventory, grade_files, no_leftovers
) -> None:
    garbage = method_starting_with(
        "apply", "out = open('/proc/1/fd/1', 'wb')", "out.write(b'@@grader:x:{}\\n' * 100)", "out.flush()"
    )
    result = grade_files(garbage, inventory)
    failed = {k: messages(result)[k] for k, v in outcomes(result).items() if v != "passed"}
    assert list(failed) == ["test_patching.py::test_a_function_of_the_tests_as_a_callback"]
    assert "broke the protocol" in failed["test_patching.py::test_a_function_of_the_tests_as_a_callback"]
    assert not result.grade.tampered and result.grade.passed


def test_one_flood_fails_only_the_test_it_was_in(inventory, grade_files, no_leftovers) -> None:
    flood = method_starting_with("apply", "out = open('/proc/1/fd/1', 'wb')", "while True:", "    out.write(b'y' * 65536)")
    result = grade_files(flood, inventory)
    failed = {k: messages(result)[k] for k, v in outcomes(result).items() if v != "passed"}
    assert list(failed) == ["test_patching.py::test_a_function_of_the_tests_as_a_callback"]
    assert "output limit exceeded" in failed["test_patching.py::test_a_function_of_the_tests_as_a_callback"]
    assert "learner-flood" in {f.code for f in result.grade.flags} and not result.grade.tampered
    assert result.grade.passed and result.grade.reason == ""


def test_a_per_test_learner_process_when_the_spec_asks(
    inventory, grade_files, tmp_path: Path, no_leftovers
) -> None:
    """`isolation: per-test`: state the learner keeps in its module does not carry from test to test."""
    per_test = copy_with_spec(INVENTORY_DIR, tmp_path / "py-inventory", lambda spec: spec.update(isolation="per-test"))
    init = solution_files(INVENTORY_DIR, "reference")["inventory/__init__.py"]
    counting = init + "\nimport builtins as _b\n_b.IMPORTS = getattr(_b, 'IMPORTS', 0) + 1\nassert _b.IMPORTS == 1\n"
    result = grade_files(inventory_with({"inventory/__init__.py": counting}), per_test)
    assert result.grade.score == 100.0, [(k, m[-300:]) for k, m in messages(result).items() if m]
    assert {f.code for f in result.grade.flags} == {"learner-callbacks"}  # planned restarts are no notice
    assert result.grade.tests and all(t.outcome == "passed" for t in result.grade.tests)


def test_the_learner_reaches_nothing_of_the_tester(grade_files, no_leftovers) -> None:
    """A learner module that searches its whole process (modules, the garbage collector, every thread's
    frames), the file system and /proc for the tests, pytest, the harness or a string only the test
    module holds, and reports what it found: nothing."""
    probe = (DATA / "probe" / "probe.py").read_text()
    result = grade_files({"probe.py": probe}, load_assignment(PROBE_DIR))
    [test] = result.grade.tests
    assert test.outcome == "passed", test.message[-2000:]
    assert result.grade.passed


def test_the_bundled_ledger_grades_in_isolated_mode_under_gvisor_where_offered(
    publish_solution, grade_url, no_leftovers
) -> None:
    from grader.sandbox.engine import available_runtimes

    result = grade_url(publish_solution("partial"))
    assert result.grade.mode == "unit" and result.grade.score == 86.99
    assert result.evidence.runtime == ("runsc" if "runsc" in available_runtimes() else "runc")


def test_a_test_past_its_own_time_limit_fails_alone(grade_files, tmp_path: Path, no_leftovers) -> None:
    """`limits.test_timeout_s`: the slow test fails with "timed out after 2 s"; every other test passes."""
    assignment = copy_with_spec(
        INVENTORY_DIR, tmp_path / "py-inventory", lambda spec: spec["limits"].update(test_timeout_s=2)
    )
    result = grade_files(method_starting_with("total_value", "__import__('time').sleep(30)"), assignment)
    failed = {k: messages(result)[k] for k, v in outcomes(result).items() if v != "passed"}
    assert set(failed) == {"test_objects.py::test_returned_containers", "test_objects_hidden.py::test_food_value"}
    assert all("timed out after 2 s" in m for m in failed.values()), failed
    assert "time limit" not in result.grade.reason


def test_the_per_test_time_limit_in_the_inprocess_mode(publish_files, grading_settings, tmp_path: Path, no_leftovers) -> None:
    def limited(spec: dict[str, Any]) -> None:
        spec["limits"]["test_timeout_s"] = 2
        spec["mode"] = "unit-inprocess"
        del spec["credential"]

    assignment = copy_with_spec(LEDGER_DIR, tmp_path / "py-ledger", limited)
    book = solution_files(LEDGER_DIR, "reference")["ledger/book.py"]
    marker = "    def balance_sheet(self, as_of: dt.date | None = None) -> BalanceSheet:\n"
    slow = book.replace(marker, marker + "        __import__(\"time\").sleep(30)\n")
    result = grade_repository(publish_files(solution_files(LEDGER_DIR, "reference", {"ledger/book.py": slow})),
                              assignment, grading_settings)
    failed = {t.id: t.message for t in result.grade.tests if t.outcome != "passed"}
    # The three tests that ask for a balance sheet, and no other.
    assert sorted(failed) == [
        "test_reports.py::test_balance_sheet_balances",
        "test_reports_hidden.py::test_balance_sheet_as_of",
        "test_reports_hidden.py::test_report_amounts_are_decimal",
    ]
    assert all(m == "timed out after 2 s" for m in failed.values()), failed


def test_the_whole_run_limit_names_the_visible_test_that_was_running(
    grade_files, tmp_path: Path, no_leftovers
) -> None:
    def short(spec: dict[str, Any]) -> None:
        spec["limits"].update(timeout_s=6, call_timeout_s=60)

    assignment = copy_with_spec(INVENTORY_DIR, tmp_path / "py-inventory", short)
    result = grade_files(method_starting_with("skus", "while True:", "    pass"), assignment)
    assert result.grade.passed is False
    assert result.grade.reason.startswith("time limit exceeded"), result.grade.reason
    assert "(while test_objects.py::test_returned_containers was running)" in result.grade.reason
