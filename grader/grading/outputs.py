"""The files a grade leaves behind: `feedback/` for the learner (under the spec's visibility rules),
`author/` for course staff (every hidden test, its parameters and messages), and a README saying
which is which."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader.core.result import GradingResult
from grader.core.spec import LoadedAssignment


def grade_as_json(result: GradingResult) -> dict[str, Any]:
    grade = result.grade
    return {
        "commit": grade.commit,
        "repository": result.evidence.repository,
        "assignment": {"id": grade.assignment_id, "version": grade.assignment_version, "hash": grade.spec_hash},
        "mode": grade.mode,
        "score": grade.score,
        "max_score": grade.max_score,
        "percent": grade.percent,
        "passed": grade.passed,
        "reason": grade.reason,
        "criteria": [
            {"id": c.id, "points": c.points, "max": c.max_points, "level": c.level, "percent": c.percent}
            for c in grade.criteria
        ],
        "tests": [
            {"id": t.id, "suite": t.suite, "outcome": t.outcome.value, "criterion": t.criterion} for t in grade.tests
        ],
        "flags": [f.model_dump() for f in grade.flags],
        "timings": result.timings,
        "evidence": result.evidence.model_dump(),
        "credential": result.credential,
    }


LEARNER_DIR = "feedback"  # safe to hand to the learner
AUTHOR_DIR = "author"  # hidden test ids, parameters and assertion text: course staff only
OUTPUT_README = """\
feedback/  safe to hand to the learner: feedback.md and feedback.html follow the assignment's
           feedback rules; credential.json is the learner's credential, when one was issued.
author/    course staff only: junit.xml, results.json and grade.json name every hidden test, its
           parameters and its failure messages, and the integrity flags in full.
"""


def _write(path: Path, text: str) -> None:
    from grader.core.feedback import printable

    # Test ids and messages can carry file names that are not UTF-8 (lone surrogates): escape, never crash.
    path.write_text(printable(text), encoding="utf-8")


def write_feedback(result: GradingResult, assignment: LoadedAssignment, directory: Path) -> None:
    """Write DIR/feedback/ (feedback.md, feedback.html, and credential.json when one was issued: all
    learner-safe) and DIR/author/ (junit.xml, results.json, grade.json: everything, hidden tests
    included). Raises OSError when the folder cannot be written."""
    # The renderers (Jinja2 templates) load here: `grader grade --json` alone never needs them.
    from grader.core.feedback import gradescope_results, junit_xml, learner_view, render_html, render_markdown

    learner, author = directory / LEARNER_DIR, directory / AUTHOR_DIR
    learner.mkdir(parents=True, exist_ok=True)
    author.mkdir(parents=True, exist_ok=True)
    spec = assignment.spec
    view = learner_view(result.grade, spec, result.learner_output)
    _write(learner / "feedback.md", render_markdown(view))
    _write(learner / "feedback.html", render_html(view))
    if result.credential is not None:
        _write(learner / "credential.json", json.dumps(result.credential, indent=2))
    _write(author / "results.json", json.dumps(gradescope_results(result.grade, spec.feedback), indent=2))
    _write(author / "junit.xml", junit_xml(result.grade))
    _write(author / "grade.json", json.dumps(grade_as_json(result), indent=2))
    _write(directory / "README.txt", OUTPUT_README)


