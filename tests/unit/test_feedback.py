from __future__ import annotations

import json
from xml.etree import ElementTree as ET

from grader.core.feedback import gradescope_results, junit_xml, learner_view, render_html, render_markdown
from grader.core.grade import CriterionGrade, Flag, Grade, Outcome, TestGrade
from grader.core.spec import AssignmentSpec, FeedbackPolicy, Visibility

SECRET = "expected 42 from hidden oracle"


def sample_grade(flags: list[Flag] | None = None) -> Grade:
    tests = [
        TestGrade(id="test_core.py::test_a", suite="visible", criterion="core", outcome=Outcome.PASSED),
        TestGrade(id="test_core.py::test_b", suite="visible", criterion="core", outcome=Outcome.FAILED, message="boom"),
        TestGrade(
            id="test_h.py::test_secret", suite="hidden", criterion="core", outcome=Outcome.FAILED, message=SECRET
        ),
        TestGrade(id="test_h.py::test_other", suite="hidden", criterion="core", outcome=Outcome.PASSED),
    ]
    return Grade(
        assignment_id="a",
        assignment_version="1.0.0",
        spec_hash="sha256:x",
        mode="unit",
        commit="c" * 40,
        score=50.0,
        max_score=100.0,
        percent=50.0,
        passed=False,
        criteria=[
            CriterionGrade(
                id="core",
                title="Core <b>",
                points=50.0,
                max_points=100.0,
                percent=50.0,
                level="Developing",
                required=True,
                meets_pass_level=False,
                tests_passed=2,
                tests_total=4,
            )
        ],
        tests=tests,
        flags=flags or [],
        reason="50.0% is below the pass mark of 80%",
    )


def spec_with(policy: FeedbackPolicy | None = None, title: str = "Ledger") -> AssignmentSpec:
    return AssignmentSpec.model_validate(
        {
            "id": "ab",
            "version": "1.0.0",
            "title": title,
            "runner": "python-3.11",
            "tests": {"visible": "tests/visible", "hidden": "tests/hidden"},
            "rubric": {
                "pass": {"min_percent": 80, "require": ["core"]},
                "criteria": [
                    {
                        "id": "core",
                        "title": "Core <b>",
                        "points": 100,
                        "tests": ["test_*"],
                        "levels": {"Exemplary": 100, "Proficient": 75, "Developing": 40},
                        "pass_level": "Proficient",
                    }
                ],
            },
            "feedback": (policy or FeedbackPolicy()).model_dump(mode="json"),
        }
    )


def test_summary_hides_hidden_test_names_and_messages() -> None:
    policy = FeedbackPolicy(visible_tests=Visibility.FULL, hidden_tests=Visibility.SUMMARY)
    view = learner_view(sample_grade(), spec_with(policy))
    text = render_markdown(view)
    assert "boom" in text and "test_core.py::test_b" in text
    assert "test_secret" not in text and SECRET not in text
    assert "Hidden tests: 1 / 2 passed" in text
    assert [t.id for s in view.suites for t in s.tests] == ["test_core.py::test_a", "test_core.py::test_b"]


def test_names_shows_names_without_messages() -> None:
    view = learner_view(
        sample_grade(), spec_with(FeedbackPolicy(visible_tests=Visibility.NAMES, hidden_tests=Visibility.NAMES))
    )
    text = render_markdown(view)
    assert "test_secret" in text
    assert SECRET not in text and "boom" not in text


def test_none_hides_a_suite_entirely() -> None:
    view = learner_view(
        sample_grade(), spec_with(FeedbackPolicy(visible_tests=Visibility.FULL, hidden_tests=Visibility.NONE))
    )
    assert [s.suite for s in view.suites] == ["visible"]
    assert "Hidden" not in render_markdown(view)


def test_html_escapes_and_shows_reason() -> None:
    html = render_html(learner_view(sample_grade(), spec_with(title="Ledger <script>")))
    assert "Ledger &lt;script&gt;" in html and "Core &lt;b&gt;" in html
    assert "below the pass mark" in html


def test_flags_are_shown() -> None:
    grade = sample_grade([Flag(code="canary-passed", detail="planted test passed")])
    assert "`canary-passed`" in render_markdown(learner_view(grade, spec_with()))


def test_gradescope_shape_and_visibility() -> None:
    results = gradescope_results(sample_grade(), FeedbackPolicy())
    json.dumps(results)
    assert results["score"] == 50.0
    tests = results["tests"]
    assert isinstance(tests, list) and len(tests) == 4
    by_name = {t["name"]: t for t in tests}
    assert by_name["test_core.py::test_a"]["score"] == 25.0
    assert by_name["test_core.py::test_b"]["output"] == "boom"
    assert by_name["test_h.py::test_secret"]["output"] == ""
    assert by_name["test_h.py::test_secret"]["visibility"] == "after_published"


def test_junit_counts_failures_per_suite() -> None:
    root = ET.fromstring(junit_xml(sample_grade()))
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert suites["visible"].get("tests") == "2" and suites["visible"].get("failures") == "1"
    assert suites["hidden"].get("failures") == "1"
    failure = root.find(".//testcase[@name='test_b']/failure")
    assert failure is not None and failure.text == "boom"
