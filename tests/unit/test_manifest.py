"""The test manifest in the judge, and the check's comparisons: pure functions, synthetic runs."""

from __future__ import annotations

from typing import Any

import pytest

from grader.core.expectations import ExpectedCriterion, ExpectedOutcome, compare_outcome, reference_problems
from grader.core.grade import Outcome
from grader.core.judge import judge
from grader.core.manifest import Manifest, disagreements, manifest_from_results
from grader.core.spec import LoadedAssignment, load_assignment
from tests.conftest import LEDGER_DIR
from tests.unit.runs import container_run
from tests.unit.test_judge import CANARIES, TOKEN, end_event, line

PARAMETRIZED = "test_core_hidden.py::test_normal_side_per_type"


@pytest.fixture(scope="module")
def ledger() -> LoadedAssignment:
    loaded = load_assignment(LEDGER_DIR)
    assert loaded.manifest is not None
    return loaded


def grade_of(ledger: LoadedAssignment, results: list[dict[str, Any]], collect_errors: list[dict[str, Any]] = ()) -> Any:
    from grader.core.judge import RunFacts
    from grader.core.run_report import parse_harness_stream

    events = [{"event": "start", "harness": 2}, *results, *collect_errors]
    events += [{"event": "result", "suite": c.suite, "id": c.id, "outcome": "failed"} for c in CANARIES]
    events.append({"event": "finish", "exit_status": 1})
    stream = b"".join(line(e) for e in events) + line(end_event(child_exit=1))
    facts = RunFacts(report=parse_harness_stream(stream, TOKEN), container=container_run(stream), canaries=CANARIES,
                     commit="c" * 40)
    return judge(ledger, facts)


def every_result(ledger: LoadedAssignment, outcome: str = "passed", skip: str = "") -> list[dict[str, Any]]:
    assert ledger.manifest is not None
    return [
        {"event": "result", "suite": suite, "id": test_id, "outcome": outcome}
        for suite, ids in ledger.manifest.items()
        for test_id in ids
        if not (skip and test_id.startswith(skip))
    ]


def test_every_parameter_set_counts(ledger: LoadedAssignment) -> None:
    grade = grade_of(ledger, every_result(ledger))
    assert grade.score == 100.0 and grade.passed and not grade.flags
    assert sum(1 for t in grade.tests if t.id.startswith(PARAMETRIZED + "[")) == 5


def test_a_file_that_fails_to_collect_keeps_its_parameter_sets_in_the_denominator(ledger: LoadedAssignment) -> None:
    """The exploit: a hidden file that fails to import no longer collapses its parameter sets into one."""
    error = {"event": "collect_error", "suite": "hidden", "file": "test_core_hidden.py", "message": "ImportError: Side"}
    grade = grade_of(ledger, every_result(ledger, skip="test_core_hidden.py"), [error])
    uncollected = [t for t in grade.tests if t.id.startswith("test_core_hidden.py")]
    assert len(uncollected) == 11 and all(t.outcome is Outcome.MISSING for t in uncollected)
    assert all(t.message.startswith("could not be collected") for t in uncollected)
    core = next(c for c in grade.criteria if c.id == "core")
    assert (core.tests_passed, core.tests_total) == (4, 15)
    assert grade.passed is False


def test_parameter_sets_outside_the_manifest_are_not_counted(ledger: LoadedAssignment) -> None:
    extra = {"event": "result", "suite": "hidden", "id": PARAMETRIZED + "[bogus]", "outcome": "passed"}
    grade = grade_of(ledger, [*every_result(ledger), extra])
    assert grade.score == 100.0 and not grade.tampered
    assert {f.code for f in grade.flags} == {"outside-manifest"}
    assert all("bogus" not in t.id for t in grade.tests)


def test_a_missing_parameter_set_is_a_failed_test(ledger: LoadedAssignment) -> None:
    results = [r for r in every_result(ledger) if r["id"] != PARAMETRIZED + "[asset]"]
    grade = grade_of(ledger, results)
    [missing] = [t for t in grade.tests if t.outcome is Outcome.MISSING]
    assert missing.id == PARAMETRIZED + "[asset]"
    assert "missing-results" in {f.code for f in grade.flags}


def test_disagreements_with_the_files() -> None:
    static = {"visible": ["test_a.py::test_x", "test_a.py::test_y"]}
    assert disagreements(Manifest(tests={"visible": ["test_a.py::test_x[1]", "test_a.py::test_y"]}), static) == []
    stale = disagreements(Manifest(tests={"visible": ["test_a.py::test_x", "test_a.py::test_z"]}), static)
    assert any("no longer define" in p for p in stale) and any("lacks" in p for p in stale)
    assert disagreements(Manifest(tests={"visible": ["test_a.py::test_x"] * 2 + ["test_a.py::test_y"]}), static) == [
        "visible: test ids repeat"
    ]
    assert manifest_from_results({"visible": ["b", "a", "a"]}).tests == {"visible": ["a", "b"]}


def test_compare_outcome_names_each_difference(ledger: LoadedAssignment) -> None:
    grade = grade_of(ledger, every_result(ledger))
    assert compare_outcome(ExpectedOutcome(score=100.0, passed=True), grade) == []
    problems = compare_outcome(
        ExpectedOutcome(score=99.0, passed=False, criteria={"core": ExpectedCriterion(level="Proficient", points=30),
                                                             "nope": ExpectedCriterion()}, flags=["always-equal"]),
        grade,
    )
    assert problems == [
        "score 100, expected 99",
        "passed True, expected False",
        "core points 35, expected 30",
        "core level Exemplary, expected Proficient",
        "criterion nope does not exist",
        "flags ['always-equal'] expected, not raised",
    ]


def test_reference_problems(ledger: LoadedAssignment) -> None:
    assert reference_problems(grade_of(ledger, every_result(ledger))) == []
    error = {"event": "collect_error", "suite": "hidden", "file": "test_core_hidden.py", "message": "ImportError"}
    problems = reference_problems(grade_of(ledger, every_result(ledger, skip="test_core_hidden.py"), [error]))
    assert problems[0] == "test files failed to collect against the reference: ['test_core_hidden.py']"
    assert problems[-1].startswith("the reference scores")
