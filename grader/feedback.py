"""Feedback: what a learner may see of a Grade, rendered to Markdown, HTML, Gradescope JSON and JUnit XML.

Visibility rules come from the spec (`feedback.visible_tests`, `feedback.hidden_tests`): `none` hides
a suite's tests, `summary` shows only counts, `names` adds test names and outcomes, `full` adds the
failure messages. Pure: a Grade in, text out.
"""

from __future__ import annotations

from xml.etree import ElementTree as ET

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from pydantic import BaseModel

from grader.grade import Grade, Outcome, TestGrade
from grader.spec import FeedbackPolicy, Visibility


class SuiteSummary(BaseModel):
    suite: str
    visibility: Visibility
    passed: int
    total: int
    tests: list[TestGrade]  # empty unless visibility is names or full


class LearnerView(BaseModel):
    """The part of a Grade a learner may see."""

    grade: Grade
    suites: list[SuiteSummary]


def _visibility(policy: FeedbackPolicy, suite: str) -> Visibility:
    return policy.visible_tests if suite == "visible" else policy.hidden_tests


def _shown(test: TestGrade, visibility: Visibility) -> TestGrade:
    return test if visibility is Visibility.FULL else test.model_copy(update={"message": ""})


def learner_view(grade: Grade, policy: FeedbackPolicy) -> LearnerView:
    suites: list[SuiteSummary] = []
    for suite in dict.fromkeys(t.suite for t in grade.tests):
        visibility = _visibility(policy, suite)
        if visibility is Visibility.NONE:
            continue
        mine = [t for t in grade.tests if t.suite == suite]
        listed = [_shown(t, visibility) for t in mine] if visibility in (Visibility.NAMES, Visibility.FULL) else []
        passed = sum(1 for t in mine if t.outcome is Outcome.PASSED)
        suites.append(SuiteSummary(suite=suite, visibility=visibility, passed=passed, total=len(mine), tests=listed))
    redacted = grade.model_copy(update={"tests": [t for s in suites for t in s.tests]})
    return LearnerView(grade=redacted, suites=suites)


def _environment(autoescape: bool) -> Environment:
    return Environment(
        loader=PackageLoader("grader", "templates"),
        autoescape=select_autoescape(["html", "html.j2"]) if autoescape else False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_markdown(view: LearnerView, title: str) -> str:
    return _environment(False).get_template("feedback.md.j2").render(view=view, grade=view.grade, title=title)


def render_html(view: LearnerView, title: str) -> str:
    return _environment(True).get_template("feedback.html.j2").render(view=view, grade=view.grade, title=title)


_GRADESCOPE_VISIBILITY = {
    Visibility.NONE: "hidden",
    Visibility.SUMMARY: "after_published",
    Visibility.NAMES: "visible",
    Visibility.FULL: "visible",
}


def gradescope_results(grade: Grade, policy: FeedbackPolicy) -> dict[str, object]:
    """The Gradescope `results.json` shape: one entry per test, scored by its share of its criterion."""
    per_criterion = {c.id: c for c in grade.criteria}
    counts: dict[str, int] = {}
    for test in grade.tests:
        counts[test.criterion] = counts.get(test.criterion, 0) + 1
    tests = []
    for test in grade.tests:
        criterion = per_criterion[test.criterion]
        share = round(criterion.max_points / counts[test.criterion], 4)
        visibility = _visibility(policy, test.suite)
        tests.append(
            {
                "name": test.id,
                "score": share if test.outcome is Outcome.PASSED and not grade.tampered else 0.0,
                "max_score": share,
                "status": "passed" if test.outcome is Outcome.PASSED else "failed",
                "output": test.message if visibility is Visibility.FULL else "",
                "visibility": _GRADESCOPE_VISIBILITY[visibility],
                "tags": [test.criterion, test.suite],
            }
        )
    return {
        "score": grade.score,
        "output": grade.reason or ("Passed" if grade.passed else "Not passed"),
        "visibility": "visible",
        "tests": tests,
    }


def junit_xml(grade: Grade) -> str:
    suites = ET.Element("testsuites", name=grade.assignment_id)
    for suite in dict.fromkeys(t.suite for t in grade.tests):
        mine = [t for t in grade.tests if t.suite == suite]
        failed = [t for t in mine if t.outcome in (Outcome.FAILED, Outcome.MISSING)]
        errors = [t for t in mine if t.outcome is Outcome.ERROR]
        skipped = [t for t in mine if t.outcome is Outcome.SKIPPED]
        element = ET.SubElement(
            suites,
            "testsuite",
            name=suite,
            tests=str(len(mine)),
            failures=str(len(failed)),
            errors=str(len(errors)),
            skipped=str(len(skipped)),
        )
        for test in mine:
            file, _, name = test.id.partition("::")
            case = ET.SubElement(element, "testcase", classname=file, name=name or file, time=f"{test.duration:.4f}")
            tag = {
                Outcome.FAILED: "failure",
                Outcome.MISSING: "failure",
                Outcome.ERROR: "error",
                Outcome.SKIPPED: "skipped",
            }.get(test.outcome)
            if tag:
                ET.SubElement(case, tag, message=test.outcome.value).text = test.message
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)
