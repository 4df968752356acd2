"""Feedback that teaches: the pass rule and thresholds beside the learner's standing, criterion titles,
tests grouped by criterion with failures first, collection errors collapsed, hints, descriptions, the
learner's own output when it is safe, and files that never crash on names that are not UTF-8."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from grader.core.evidence import Evidence
from grader.core.feedback import (
    collection_summary,
    hint_for,
    junit_xml,
    learner_view,
    printable,
    render_html,
    render_markdown,
    strip_harness_frames,
)
from grader.core.grade import Grade, Outcome, TestGrade
from grader.core.result import GradingResult
from grader.core.rubric import fail_reason, score_rubric
from grader.core.spec import AssignmentSpec, LoadedAssignment
from grader.grading.outputs import write_feedback

COLLECT_ERROR = """/opt/grader/child.py:683: in load
    exec(code, module.__dict__)
<frozen importlib._bootstrap>:1204: in _gcd_import
    ???
test_core.py:3: in <module>
    from ledger import Ledger
/submission/ledger/__init__.py:1: in <module>
    import requests
E   ModuleNotFoundError: No module named 'requests'"""


def spec(**feedback: str) -> AssignmentSpec:
    return AssignmentSpec.model_validate(
        {
            "id": "py-links",
            "version": "1.0.0",
            "title": "Linked list",
            "runner": "python-3.11",
            "tests": {"visible": "tests/visible", "hidden": "tests/hidden"},
            "rubric": {
                "pass": {"min_percent": 70, "require": ["core"]},
                "criteria": [
                    {
                        "id": "core",
                        "title": "Core operations",
                        "description": "Append, remove and count links.",
                        "points": 60,
                        "tests": ["test_core*.py::*"],
                        "levels": {"Exemplary": 100, "Proficient": 80, "Developing": 40},
                        "pass_level": "Proficient",
                    },
                    {
                        "id": "iter",
                        "title": "Iteration",
                        "points": 40,
                        "tests": ["test_iter*.py::*"],
                        "levels": {"Exemplary": 100, "Proficient": 75},
                    },
                ],
                "hints": {
                    "test_core.py::test_remove*": "Removing the head needs its own case.",
                    "test_core_hidden.py::*": "Think about an empty list.",
                },
            },
            "feedback": feedback or {"visible_tests": "full", "hidden_tests": "summary"},
        }
    )


def t(test_id: str, outcome: Outcome, suite: str = "visible", message: str = "") -> TestGrade:
    criterion = "core" if test_id.startswith("test_core") else "iter"
    return TestGrade(id=test_id, suite=suite, criterion=criterion, outcome=outcome, message=message)


def grade_of(the_spec: AssignmentSpec, tests: list[TestGrade]) -> Grade:
    criteria, score, percent, passed = score_rubric(the_spec.rubric, tests)
    return Grade(
        assignment_id=the_spec.id,
        assignment_version=the_spec.version,
        spec_hash="sha256:x",
        mode="unit",
        commit="c" * 40,
        score=score,
        max_score=the_spec.rubric.max_points,
        percent=percent,
        passed=passed,
        criteria=criteria,
        tests=tests,
        reason="" if passed else fail_reason(the_spec.rubric, criteria, percent),
    )


def sample() -> list[TestGrade]:
    return [
        t("test_core.py::test_append", Outcome.PASSED),
        t("test_core.py::test_remove_head", Outcome.FAILED, message="assert 2 == 1"),
        t("test_core.py::test_len", Outcome.PASSED),
        t("test_core_hidden.py::test_empty", Outcome.FAILED, "hidden", "assert secret"),
        t("test_core_hidden.py::test_big", Outcome.PASSED, "hidden"),
        t("test_iter.py::test_iter", Outcome.PASSED),
        t("test_iter_hidden.py::test_reversed", Outcome.PASSED, "hidden"),
    ]


def test_reason_is_a_sentence_with_titles_thresholds_and_standing() -> None:
    grade = grade_of(spec(), sample())
    assert grade.reason == (
        "Core operations (required) is at 60% (3 of 5 tests), below the 80% it needs for Proficient."
    )
    assert "[" not in grade.reason and "'core'" not in grade.reason


def test_reason_names_the_pass_mark_and_every_unmet_criterion() -> None:
    tests = [t.model_copy(update={"outcome": Outcome.FAILED}) for t in sample()]
    reason = grade_of(spec(), tests).reason
    assert reason.startswith("The total is 0%, below the pass mark of 70%; Core operations (required) is at 0%")
    assert reason.endswith("it needs for Proficient.")


def test_pass_rule_and_standing_beside_each_criterion() -> None:
    view = learner_view(grade_of(spec(), sample()), spec())
    assert view.pass_rule == "To pass: at least 70% overall, and Core operations at Proficient (80%) or above."
    core, iteration = view.criteria
    assert core.standing == "Core operations (required): 3 of 5 tests, 60%; needs 80% for Proficient"
    assert iteration.standing == "Iteration: 2 of 2 tests, 100%; Exemplary, the top level"
    text = render_markdown(view)
    assert "## Core operations (required)" in text and "Append, remove and count links." in text
    assert view.pass_rule in text and core.position in text


def test_standing_names_the_next_level_when_the_pass_level_is_met() -> None:
    tests = [*sample()[:3], t("test_core_hidden.py::test_empty", Outcome.PASSED, "hidden"), *sample()[4:]]
    tests[1] = tests[1].model_copy(update={"outcome": Outcome.PASSED})
    tests[2] = tests[2].model_copy(update={"outcome": Outcome.FAILED})
    core = learner_view(grade_of(spec(), tests), spec()).criteria[0]
    assert core.position == "4 of 5 tests, 80%; Proficient, needs 100% for Exemplary"


def test_tests_are_grouped_by_criterion_failures_first() -> None:
    view = learner_view(grade_of(spec(), sample()), spec())
    core = view.criteria[0]
    assert [x.id for x in core.tests] == [
        "test_core.py::test_remove_head",
        "test_core.py::test_append",
        "test_core.py::test_len",
    ]
    assert core.unlisted == ["hidden tests: 1 of 2 passed"]
    text = render_markdown(view)
    assert text.index("test_remove_head") < text.index("test_append") < text.index("## Iteration")


def test_hints_show_beside_failures_and_without_naming_hidden_tests() -> None:
    view = learner_view(grade_of(spec(), sample()), spec())
    core = view.criteria[0]
    assert core.tests[0].hint == "Removing the head needs its own case."
    assert all(not x.hint for x in core.tests[1:])  # passing tests get no hint
    assert core.hints == ["Think about an empty list."]  # for the failing hidden test, unnamed
    text = render_markdown(view)
    assert "Think about an empty list." in text and "test_empty" not in text


def test_hint_globs_match_ids_without_parameters() -> None:
    hints = {"test_a.py::test_b": "B", "test_a.py::*": "any"}
    assert hint_for("test_a.py::test_b[1-2]", hints) == "B"
    assert hint_for("test_a.py::test_c", hints) == "any"
    assert hint_for("test_z.py::test_c", hints) == ""


def test_identical_collection_errors_collapse_into_one_without_harness_frames() -> None:
    tests = [
        t("test_core.py::test_append", Outcome.MISSING, message="could not be collected: " + COLLECT_ERROR),
        t("test_core.py::test_len", Outcome.MISSING, message="could not be collected: " + COLLECT_ERROR),
        t(
            "test_iter.py::test_iter",
            Outcome.MISSING,
            message="could not be collected: " + COLLECT_ERROR.replace("test_core.py:3", "test_iter.py:1"),
        ),
    ]
    view = learner_view(grade_of(spec(), tests), spec())
    (error,) = view.errors
    assert error.summary == "your package failed to import: No module named 'requests'"
    assert error.tests == 3
    assert "/opt/grader" not in error.detail and "importlib" not in error.detail and "???" not in error.detail
    assert "/submission/ledger/__init__.py:1" in error.detail and "import requests" in error.detail
    assert all(x.error == 1 and x.message == "" for c in view.criteria for x in c.tests)
    text = render_markdown(view)
    assert text.count("No module named 'requests'") == 2  # the summary line and its traceback, once
    assert "see error 1 above" in text


@pytest.mark.parametrize(
    ("message", "summary"),
    [
        (
            "E   ImportError: cannot import name 'X' from 'ledger'",
            "your package failed to import: cannot import name 'X' from 'ledger'",
        ),
        ('E     File "x.py", line 1\nE   SyntaxError: invalid syntax', "your code does not compile: invalid syntax"),
        (
            "E   ZeroDivisionError: division by zero",
            "importing your package raised ZeroDivisionError: division by zero",
        ),
        ("E   KeyboardInterrupt", "importing your package raised KeyboardInterrupt"),
        (
            "the submission called sys.exit(0) while it was imported",
            "the submission called sys.exit(0) while it was imported",
        ),
        ("", "the test module could not be collected"),
    ],
)
def test_collection_summary(message: str, summary: str) -> None:
    assert collection_summary(message) == summary


def test_strip_harness_frames_keeps_everything_else() -> None:
    text = "intro line\n/opt/grader/child.py:1: in run\n    x()\nmine.py:2: in f\n    y()\nE   ValueError"
    assert strip_harness_frames(text) == "intro line\nmine.py:2: in f\n    y()\nE   ValueError"


def test_learner_output_only_when_no_hidden_test_could_write_to_it() -> None:
    visible_only = [x for x in sample() if x.suite == "visible"]
    shown = learner_view(grade_of(spec(), visible_only), spec(), "PRINTED 7")
    assert shown.output == "PRINTED 7" and "PRINTED 7" in render_markdown(shown)
    assert learner_view(grade_of(spec(), sample()), spec(), "PRINTED 7").output == ""
    both_full = spec(visible_tests="full", hidden_tests="full")
    assert learner_view(grade_of(both_full, sample()), both_full, "PRINTED 7").output == "PRINTED 7"
    names = spec(visible_tests="names", hidden_tests="full")
    assert learner_view(grade_of(names, visible_only), names, "PRINTED 7").output == ""


def test_messages_cannot_break_out_of_their_code_fence() -> None:
    tests = [t("test_core.py::test_append", Outcome.FAILED, message="```\n# injected heading\n````")]
    text = render_markdown(learner_view(grade_of(spec(), tests), spec()))
    assert "\n  `````\n" in text  # a fence longer than any backtick run inside


def test_html_escapes_hints_and_descriptions() -> None:
    the_spec = spec().model_copy(
        update={"rubric": spec().rubric.model_copy(update={"hints": {"test_core.py::*": "<script>x</script>"}})}
    )
    html = render_html(learner_view(grade_of(the_spec, sample()), the_spec))
    assert "<script>x" not in html and "&lt;script&gt;x" in html


NOT_UTF8 = b"caf\xe9_\xff.py".decode("utf-8", "surrogateescape")


def _evidence(grade: Grade) -> Evidence:
    return Evidence(
        repository="https://git.example/a/b.git",
        commit=grade.commit,
        ref=None,
        assignment_id=grade.assignment_id,
        assignment_version=grade.assignment_version,
        spec_hash=grade.spec_hash,
        image="i",
        image_id="sha256:i",
        runtime="runc",
        mode="unit",
    )


def test_file_names_that_are_not_utf8_do_not_crash_the_feedback_dir(tmp_path: Path) -> None:
    message = f"could not be collected: {NOT_UTF8}:1: in <module>\nE   ImportError: bad name {NOT_UTF8}"
    tests = [
        t("test_core.py::test_append", Outcome.MISSING, message=message),
        t("test_core.py::test_len", Outcome.FAILED, message=f"open('{NOT_UTF8}') \x1b[31m\x00"),
        t(f"test_core.py::test_len[{NOT_UTF8}]", Outcome.PASSED),
    ]
    the_spec = spec()
    grade = grade_of(the_spec, tests).model_copy(update={"reason": f"file {NOT_UTF8}"})
    result = GradingResult(grade=grade, evidence=_evidence(grade), timings={}, learner_output=NOT_UTF8)
    loaded: Any = LoadedAssignment.model_construct(spec=the_spec)
    write_feedback(result, loaded, tmp_path)
    markdown = (tmp_path / "feedback" / "feedback.md").read_text(encoding="utf-8")
    assert "caf\\udce9_\\udcff.py" in markdown  # shown escaped, not dropped
    (tmp_path / "feedback" / "feedback.html").read_text(encoding="utf-8")
    json.loads((tmp_path / "author" / "grade.json").read_text(encoding="utf-8"))
    json.loads((tmp_path / "author" / "results.json").read_text(encoding="utf-8"))
    from xml.etree import ElementTree as ET

    ET.fromstring((tmp_path / "author" / "junit.xml").read_text(encoding="utf-8"))  # still well-formed XML
    ET.fromstring(junit_xml(grade))


def test_printable_escapes_only_what_utf8_cannot_carry() -> None:
    assert printable("naïve ✓") == "naïve ✓"
    assert printable("a\udcffb") == "a\\udcffb"


def test_failure_messages_lose_harness_frames_too() -> None:
    message = (
        "test_core.py:9: in test_append\n    assert x\n/opt/grader/child.py:400: in eq\n    raise\nE   assert 1 == 2"
    )
    tests = [t("test_core.py::test_append", Outcome.FAILED, message=message)]
    shown = learner_view(grade_of(spec(), tests), spec()).criteria[0].tests[0]
    assert shown.message == "test_core.py:9: in test_append\n    assert x\nE   assert 1 == 2"
