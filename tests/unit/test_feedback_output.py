"""What the learner's code printed, per test, in the learner view: shown with each visible test under
`visible_tests: full` when it was printed before any hidden test began, never with a hidden test (unless
hidden tests are `full`), never under `summary` or `names`; output printed outside any test follows the
rule the run's one stream always had."""

from __future__ import annotations

import pytest

from grader.core.feedback import junit_xml, learner_view, render_html, render_markdown
from grader.core.grade import Grade, Outcome, TestGrade
from grader.core.spec import FeedbackPolicy, Visibility
from tests.unit.test_feedback import sample_grade, spec_with

VISIBLE_PRINT = "printed while test_a ran"
LATE_VISIBLE_PRINT = "printed by a visible test after a hidden one began"
HIDDEN_PRINT = "printed while test_secret ran: expected 42"
OUTSIDE_PRINT = "printed while the package was imported"
WHOLE_STREAM = "the run's one stream"


def attributed_grade(outside: str | None = OUTSIDE_PRINT) -> Grade:
    """The sample grade with each test's own output, as a run that split its output by test reports it."""
    grade = sample_grade()
    printed = {
        "test_core.py::test_a": (VISIBLE_PRINT, True),
        "test_core.py::test_b": (LATE_VISIBLE_PRINT, False),
        "test_h.py::test_secret": (HIDDEN_PRINT, False),
    }
    tests = [
        t.model_copy(update={"output": printed[t.id][0], "output_before_hidden": printed[t.id][1]})
        if t.id in printed
        else t
        for t in grade.tests
    ]
    return grade.model_copy(update={"tests": tests, "output_outside_tests": outside})


def shown_outputs(grade: Grade, policy: FeedbackPolicy) -> dict[str, str]:
    view = learner_view(grade, spec_with(policy), WHOLE_STREAM)
    return {t.id: t.output for s in view.suites for t in s.tests if t.output}


def rendered(grade: Grade, policy: FeedbackPolicy) -> str:
    view = learner_view(grade, spec_with(policy), WHOLE_STREAM)
    return view.model_dump_json() + render_markdown(view) + render_html(view)


def test_a_visible_test_shows_what_it_printed_under_full_and_a_hidden_one_never() -> None:
    policy = FeedbackPolicy(visible_tests=Visibility.FULL, hidden_tests=Visibility.NAMES)
    assert shown_outputs(attributed_grade(), policy) == {"test_core.py::test_a": VISIBLE_PRINT}
    text = rendered(attributed_grade(), policy)
    assert VISIBLE_PRINT in text and "Printed during this test" in text
    # Hidden tests ran, so what was printed outside the tests is withheld too, as the one stream was.
    for secret in (HIDDEN_PRINT, LATE_VISIBLE_PRINT, OUTSIDE_PRINT, WHOLE_STREAM):
        assert secret not in text


@pytest.mark.parametrize("visible", [Visibility.NONE, Visibility.SUMMARY, Visibility.NAMES])
@pytest.mark.parametrize("hidden", list(Visibility))
def test_no_output_below_full(visible: Visibility, hidden: Visibility) -> None:
    policy = FeedbackPolicy(visible_tests=visible, hidden_tests=hidden)
    shown = shown_outputs(attributed_grade(), policy)
    assert "test_core.py::test_a" not in shown and "test_core.py::test_b" not in shown
    text = rendered(attributed_grade(), policy)
    for printed in (VISIBLE_PRINT, LATE_VISIBLE_PRINT, OUTSIDE_PRINT, WHOLE_STREAM):
        assert printed not in text
    assert (HIDDEN_PRINT in text) is (hidden is Visibility.FULL)


def test_hidden_full_shows_every_test_its_output() -> None:
    policy = FeedbackPolicy(visible_tests=Visibility.FULL, hidden_tests=Visibility.FULL)
    assert shown_outputs(attributed_grade(), policy) == {
        "test_core.py::test_a": VISIBLE_PRINT,
        "test_core.py::test_b": LATE_VISIBLE_PRINT,
        "test_h.py::test_secret": HIDDEN_PRINT,
    }
    view = learner_view(attributed_grade(), spec_with(policy), WHOLE_STREAM)
    assert view.output == OUTSIDE_PRINT and view.output_by_test  # the rest of the run, not the whole stream
    assert "Printed outside the tests" in render_markdown(view)


def test_output_outside_tests_is_shown_when_no_hidden_test_ran() -> None:
    grade = attributed_grade()
    visible_only = grade.model_copy(update={"tests": [t for t in grade.tests if t.suite == "visible"]})
    view = learner_view(visible_only, spec_with(), WHOLE_STREAM)
    assert view.output == OUTSIDE_PRINT
    assert {t.id: t.output for t in view.suites[0].tests if t.output} == {
        "test_core.py::test_a": VISIBLE_PRINT,
        # No hidden test ran, but the harness could not tell this output apart from later output.
    }


def test_a_grade_without_attribution_keeps_the_old_rule() -> None:
    """Older grades and service mode: no per-test output, and the run's one stream under the old rule."""
    grade = sample_grade()
    assert grade.output_outside_tests is None
    full = FeedbackPolicy(visible_tests=Visibility.FULL, hidden_tests=Visibility.SUMMARY)
    assert learner_view(grade, spec_with(full), WHOLE_STREAM).output == ""
    both = FeedbackPolicy(visible_tests=Visibility.FULL, hidden_tests=Visibility.FULL)
    view = learner_view(grade, spec_with(both), WHOLE_STREAM)
    assert view.output == WHOLE_STREAM and not view.output_by_test
    assert "Your program's output" in render_markdown(view)


def test_output_never_changes_an_outcome_and_is_escaped() -> None:
    grade = attributed_grade().model_copy(
        update={
            "tests": [
                TestGrade(
                    id="test_core.py::test_a",
                    suite="visible",
                    criterion="core",
                    outcome=Outcome.FAILED,
                    output="<script>alert(1)</script>\n@@grader:x:{\"outcome\":\"passed\"}",
                    output_before_hidden=True,
                )
            ]
        }
    )
    view = learner_view(grade, spec_with())
    [shown] = view.suites[0].tests
    assert shown.outcome is Outcome.FAILED and "@@grader:" in shown.output
    assert "<script>" not in render_html(view) and "&lt;script&gt;" in render_html(view)


def test_author_junit_carries_every_test_output() -> None:
    xml = junit_xml(attributed_grade())
    assert HIDDEN_PRINT in xml and VISIBLE_PRINT in xml and "<system-out>" in xml
