"""Feedback: what a learner may see of a Grade, rendered to Markdown and HTML; and the author's reports
(Gradescope JSON, JUnit XML), which show everything.

Visibility rules come from the spec (`feedback.visible_tests`, `feedback.hidden_tests`): `none` hides
a suite's tests, `summary` shows only counts, `names` adds test names and outcomes, `full` adds the
failure messages and what the learner's code printed during each test (see _test_output). Whatever the
rules, the learner view never carries a flag's specifics (test ids, canary names: see
grader.core.judge.learner_detail). Pure: a Grade and its spec in, data or text out.
"""

from __future__ import annotations

import fnmatch
import re
from xml.etree import ElementTree as ET

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from pydantic import BaseModel

from grader.core.grade import CriterionGrade, Flag, Grade, Outcome, TestGrade
from grader.core.judge import learner_detail
from grader.core.rubric import pass_rule_text, position, standing
from grader.core.spec import AssignmentSpec, Criterion, FeedbackPolicy, Visibility
from grader.core.testids import base_id

COLLECT_PREFIX = "could not be collected: "
LISTED = (Visibility.NAMES, Visibility.FULL)
# Traceback entries of the harness, pytest, pluggy and importlib: noise to a learner, never their code.
_HARNESS_FRAME = re.compile(r"^(/opt/grader/|.*/_pytest/|.*/pluggy/|.*/importlib/|<frozen )")
_FRAME_HEAD = re.compile(r"^(?P<path>\S.*?):\d+: in \S")
_EXCEPTION_LINE = re.compile(r"^E\s+(?P<type>[A-Za-z_][\w.]*)(: (?P<text>.*))?$")
_IMPORT_ERRORS = {"ModuleNotFoundError", "ImportError"}
# Characters XML 1.0 cannot carry at all (a learner's output can hold any of them).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class ShownTest(BaseModel):
    id: str
    suite: str
    outcome: Outcome
    message: str = ""  # only under `full`
    output: str = ""  # what was printed during the test, only under `full` (see _test_output)
    hint: str = ""
    error: int | None = None  # 1-based number of the collection error that stopped it


class SuiteSummary(BaseModel):
    suite: str
    visibility: Visibility
    passed: int
    total: int
    tests: list[ShownTest]  # empty unless visibility is names or full


class CriterionView(BaseModel):
    id: str
    title: str
    description: str
    required: bool
    points: float
    max_points: float
    percent: float
    level: str
    tests_passed: int
    tests_total: int
    standing: str  # "Core (required): 11 of 16 tests, 68.75%; needs 80% for Proficient"
    position: str  # the same without the title: "11 of 16 tests, 68.75%; needs 80% for Proficient"
    tests: list[ShownTest]  # the ones the learner may see by name, failures first
    unlisted: list[str]  # "hidden tests: 3 of 5 passed", for suites shown only as counts
    hints: list[str]  # hints for failing tests the learner may not see by name


class CollectionError(BaseModel):
    summary: str  # "your package failed to import: No module named 'requests'"
    detail: str  # the traceback, without the harness's frames
    tests: int  # how many of the shown tests it stopped


class LearnerFlag(BaseModel):
    code: str
    detail: str  # counts and reasons only
    tripwire: bool


class LearnerView(BaseModel):
    """The part of a Grade a learner may see, shaped for teaching."""

    title: str
    assignment_id: str
    assignment_version: str
    commit: str
    passed: bool
    score: float
    max_score: float
    percent: float
    reason: str
    pass_rule: str
    criteria: list[CriterionView]
    suites: list[SuiteSummary]
    errors: list[CollectionError]
    flags: list[LearnerFlag]
    output: str  # what was printed outside any test, when the rules allow it (see _shown_output)
    output_by_test: bool = False  # the run's output was split by test: `output` is only the rest


def printable(text: str) -> str:
    """Text any UTF-8 writer accepts: lone surrogates (file names that are not UTF-8, decoded with
    surrogateescape) become visible `\\udcxx` escapes instead of a UnicodeEncodeError later."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _visibility(policy: FeedbackPolicy, suite: str) -> Visibility:
    return policy.visible_tests if suite == "visible" else policy.hidden_tests


def hint_for(test_id: str, hints: dict[str, str]) -> str:
    """The first hint whose glob matches the test id (parameters left out), or ""."""
    base = base_id(test_id)
    return next((text for glob, text in hints.items() if fnmatch.fnmatchcase(base, glob)), "")


def strip_harness_frames(message: str) -> str:
    """Drop traceback entries (a `path:line: in name` head and its indented lines) of the harness,
    pytest and importlib, keeping the learner's and the test's frames and the `E` lines."""
    kept: list[str] = []
    skipping = False
    for line in message.splitlines():
        head = _FRAME_HEAD.match(line)
        if head is not None:
            skipping = bool(_HARNESS_FRAME.match(head.group("path")))
        elif not line.startswith((" ", "\t")):
            skipping = False
        if not skipping:
            kept.append(line)
    return "\n".join(kept).strip()


def collection_summary(message: str) -> str:
    """One line a learner can act on, from a collection error's text."""
    exceptions = [m for m in map(_EXCEPTION_LINE.match, message.splitlines()) if m is not None]
    if not exceptions:
        lines = [line for line in message.splitlines() if line.strip()]
        return lines[-1].strip() if lines else "the test module could not be collected"
    last = exceptions[-1]
    kind, text = last.group("type"), (last.group("text") or "").strip()
    if kind.rpartition(".")[2] in _IMPORT_ERRORS:
        return f"your package failed to import: {text or kind}"
    if kind.rpartition(".")[2] == "SyntaxError":
        return f"your code does not compile: {text or kind}"
    return f"importing your package raised {kind}" + (f": {text}" if text else "")


def _test_output(test: TestGrade, policy: FeedbackPolicy) -> str:
    """What the learner's code printed during `test`, when the learner may see it: under `full` for the
    test's suite only. A visible test's output also needs to have been printed before any hidden test
    began (code that ran under a hidden test could print that test's inputs later, in a visible one),
    unless hidden tests are `full` too. A hidden test's output is shown only when hidden tests are `full`."""
    if _visibility(policy, test.suite) is not Visibility.FULL:
        return ""
    if test.suite == "visible" and not test.output_before_hidden and policy.hidden_tests is not Visibility.FULL:
        return ""
    return printable(test.output)


def _shown_test(test: TestGrade, policy: FeedbackPolicy, hints: dict[str, str]) -> ShownTest:
    failed = test.outcome is not Outcome.PASSED
    full = _visibility(policy, test.suite) is Visibility.FULL
    return ShownTest(
        id=printable(test.id),
        suite=test.suite,
        outcome=test.outcome,
        message=strip_harness_frames(printable(test.message)) if full else "",
        output=_test_output(test, policy),
        hint=hint_for(test.id, hints) if failed else "",
    )


def _collapse_collection_errors(tests: list[ShownTest]) -> tuple[list[ShownTest], list[CollectionError]]:
    """Identical collection errors (the same summary line) become one, numbered; each test points to it."""
    errors: dict[str, CollectionError] = {}
    out: list[ShownTest] = []
    for test in tests:
        if not test.message.startswith(COLLECT_PREFIX):
            out.append(test)
            continue
        detail = strip_harness_frames(test.message.removeprefix(COLLECT_PREFIX))
        summary = collection_summary(detail)
        error = errors.setdefault(summary, CollectionError(summary=summary, detail=detail, tests=0))
        error.tests += 1
        out.append(test.model_copy(update={"message": "", "error": list(errors).index(summary) + 1}))
    return out, list(errors.values())


def _failures_first(tests: list[ShownTest]) -> list[ShownTest]:
    return sorted(tests, key=lambda t: t.outcome is Outcome.PASSED)  # stable: author's order within each


def _criterion_view(
    criterion: Criterion, grade: CriterionGrade, tests: list[TestGrade], shown: list[ShownTest], spec: AssignmentSpec
) -> CriterionView:
    policy, hints = spec.feedback, spec.rubric.hints
    unlisted: list[str] = []
    unlisted_hints: list[str] = []
    for suite in dict.fromkeys(t.suite for t in tests):
        visibility = _visibility(policy, suite)
        mine = [t for t in tests if t.suite == suite]
        if visibility is not Visibility.SUMMARY:
            continue  # listed by name (names, full) or not at all (none)
        passed = sum(1 for t in mine if t.outcome is Outcome.PASSED)
        unlisted.append(f"{suite} tests: {passed} of {len(mine)} passed")
        for test in mine:
            hint = hint_for(test.id, hints) if test.outcome is not Outcome.PASSED else ""
            if hint and hint not in unlisted_hints:
                unlisted_hints.append(hint)
    return CriterionView(
        id=criterion.id,
        title=criterion.title,
        description=criterion.description,
        required=grade.required,
        points=grade.points,
        max_points=grade.max_points,
        percent=grade.percent,
        level=grade.level,
        tests_passed=grade.tests_passed,
        tests_total=grade.tests_total,
        standing=standing(criterion, grade),
        position=position(criterion, grade),
        tests=_failures_first(shown),
        unlisted=unlisted,
        hints=unlisted_hints,
    )


def _shown_output(grade: Grade, policy: FeedbackPolicy, output: str) -> str:
    """What was printed outside any test (collection, imports: code imported by a hidden test module
    could print what it found there), or, for a run whose output was not split by test, `output`, the
    run's one stream with hidden tests in it. Either is shown only under visible `full` when no hidden
    test ran, or hidden tests are `full` too."""
    if policy.visible_tests is not Visibility.FULL:
        return ""
    hidden_ran = any(t.suite != "visible" for t in grade.tests)
    if hidden_ran and policy.hidden_tests is not Visibility.FULL:
        return ""
    return printable(output if grade.output_outside_tests is None else grade.output_outside_tests)


def learner_flags(flags: list[Flag]) -> list[LearnerFlag]:
    return [LearnerFlag(code=f.code, detail=printable(learner_detail(f)), tripwire=f.tripwire) for f in flags]


def learner_view(grade: Grade, spec: AssignmentSpec, output: str = "") -> LearnerView:
    """What a learner may see of `grade` under `spec`'s feedback rules; `output` is the run's captured
    program output, used only for a grade whose output was not split by test (see _shown_output)."""
    policy, hints = spec.feedback, spec.rubric.hints
    named = [t for t in grade.tests if _visibility(policy, t.suite) in LISTED]
    listed, errors = _collapse_collection_errors([_shown_test(t, policy, hints) for t in named])
    shown_by_criterion: dict[str, list[ShownTest]] = {}
    for test, shown in zip(named, listed, strict=True):
        shown_by_criterion.setdefault(test.criterion, []).append(shown)
    suites: list[SuiteSummary] = []
    for suite in dict.fromkeys(t.suite for t in grade.tests):
        visibility = _visibility(policy, suite)
        if visibility is Visibility.NONE:
            continue
        mine = [t for t in grade.tests if t.suite == suite]
        passed = sum(1 for t in mine if t.outcome is Outcome.PASSED)
        tests = [t for t in listed if t.suite == suite]
        suites.append(SuiteSummary(suite=suite, visibility=visibility, passed=passed, total=len(mine), tests=tests))
    by_id = {c.id: c for c in spec.rubric.criteria}
    criteria = [
        _criterion_view(
            by_id[c.id], c, [t for t in grade.tests if t.criterion == c.id], shown_by_criterion.get(c.id, []), spec
        )
        for c in grade.criteria
        if c.id in by_id
    ]
    return LearnerView(
        title=spec.title,
        assignment_id=grade.assignment_id,
        assignment_version=grade.assignment_version,
        commit=grade.commit,
        passed=grade.passed,
        score=grade.score,
        max_score=grade.max_score,
        percent=grade.percent,
        reason=printable(grade.reason),
        pass_rule=pass_rule_text(spec.rubric),
        criteria=criteria,
        suites=suites,
        errors=errors,
        flags=learner_flags(grade.flags),
        output=_shown_output(grade, policy, output),
        output_by_test=grade.output_outside_tests is not None,
    )


def _fence(text: str) -> str:
    """A Markdown code fence longer than any backtick run in `text`, so the text cannot close it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _environment(autoescape: bool) -> Environment:
    environment = Environment(
        loader=PackageLoader("grader.core", "templates"),
        autoescape=select_autoescape(["html", "html.j2"]) if autoescape else False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["fence"] = _fence
    environment.filters["pct"] = lambda value: f"{round(value, 2):g}"
    environment.filters["capitalize_first"] = lambda text: text[:1].upper() + text[1:]
    return environment


def render_markdown(view: LearnerView) -> str:
    return _environment(False).get_template("feedback.md.j2").render(view=view)


def render_html(view: LearnerView) -> str:
    return _environment(True).get_template("feedback.html.j2").render(view=view)


# Author reports: every test, every message. Never hand these to a learner (see README "Output files").

_GRADESCOPE_VISIBILITY = {
    Visibility.NONE: "hidden",
    Visibility.SUMMARY: "after_published",
    Visibility.NAMES: "visible",
    Visibility.FULL: "visible",
}


def gradescope_results(grade: Grade, policy: FeedbackPolicy) -> dict[str, object]:
    """The Gradescope `results.json` shape: one entry per test, scored by its share of its criterion.

    An author report: it holds hidden test ids (and messages when visibility allows them in Gradescope's
    own view), and its `visibility` fields are only honoured by Gradescope itself."""
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
                "name": printable(test.id),
                "score": share if test.outcome is Outcome.PASSED and not grade.tampered else 0.0,
                "max_score": share,
                "status": "passed" if test.outcome is Outcome.PASSED else "failed",
                "output": printable(test.message) if visibility is Visibility.FULL else "",
                "visibility": _GRADESCOPE_VISIBILITY[visibility],
                "tags": [test.criterion, test.suite],
            }
        )
    return {
        "score": grade.score,
        "output": printable(grade.reason) or ("Passed" if grade.passed else "Not passed"),
        "visibility": "visible",
        "tests": tests,
    }


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", printable(text))


def junit_xml(grade: Grade) -> str:
    """JUnit XML of every test, hidden ones and their messages included: an author report."""
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
            file, _, name = _xml_text(test.id).partition("::")
            case = ET.SubElement(element, "testcase", classname=file, name=name or file, time=f"{test.duration:.4f}")
            tag = {
                Outcome.FAILED: "failure",
                Outcome.MISSING: "failure",
                Outcome.ERROR: "error",
                Outcome.SKIPPED: "skipped",
            }.get(test.outcome)
            if tag:
                ET.SubElement(case, tag, message=test.outcome.value).text = _xml_text(test.message)
            if test.output:
                ET.SubElement(case, "system-out").text = _xml_text(test.output)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)
