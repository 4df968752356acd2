"""`grader assignment check`: an assignment graded against its own solutions before anyone else is.

The reference solution and every known-bad solution the author lists in `solutions/expected.yaml` are
graded through the real sandbox, straight from their folders (no git server), and compared with what
the author wrote down. The check refuses when the reference is not 100% and passing, when any of the
author's test files fails to collect, or when the tests pytest collects differ from the ones found by
reading the files. Its reference run also yields the version's test manifest (grader/core/manifest.py).
It never issues a credential.

The comparison (`compare_outcome`, `reference_problems`) is pure; `check_assignment` is the shell
around it.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from grader.config import Settings
from grader.core.grade import Grade, Outcome
from grader.core.manifest import MANIFEST_FILE, Manifest, manifest_from_results
from grader.core.spec import LoadedAssignment, SpecError, SpecIssue, load_assignment
from grader.fetch.repository import Snapshot

EXPECTED_FILE = "solutions/expected.yaml"
REFERENCE = "reference"
Progress = Callable[[str], None]


class ExpectedCriterion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: float | None = None
    level: str | None = None


class ExpectedOutcome(BaseModel):
    """What the author says one solution scores (every field optional but `passed`)."""

    model_config = ConfigDict(extra="forbid")

    score: float | None = None
    max_score: float | None = None
    percent: float | None = None
    passed: bool
    criteria: dict[str, ExpectedCriterion] = {}
    flags: list[str] = []


class CheckRow(BaseModel):
    solution: str
    expected: str
    got: str
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


class CheckReport(BaseModel):
    assignment: str
    rows: list[CheckRow]
    problems: list[str]  # about the assignment itself (reference, collection)
    manifest: Manifest | None = None
    manifest_current: bool = True

    @property
    def ok(self) -> bool:
        return not self.problems and all(row.ok for row in self.rows)


MANIFEST_STALE = "manifest.json is missing or out of date: run `grader assignment check --write-manifest`"


def refusals(report: CheckReport) -> list[str]:
    """Why the check refuses the assignment, each reason a sentence (empty: it passes). The CLI and the
    service's check job both decide by this."""
    reasons = list(report.problems)
    reasons += [f"solutions/{row.solution}: {'; '.join(row.problems)}" for row in report.rows if not row.ok]
    if report.manifest is not None and not report.manifest_current:
        reasons.append(MANIFEST_STALE)
    return reasons


def load_expected(root: Path) -> dict[str, ExpectedOutcome]:
    """The expected outcomes the author wrote down. Raises SpecError naming the file and field."""
    path = root / EXPECTED_FILE
    file = str(path)
    if not path.is_file():
        raise SpecError([SpecIssue(file=file, field="(file)", message="no expected outcomes: the check needs them")])
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SpecError([SpecIssue(file=file, field="(file)", message=f"not YAML: {exc}")]) from None
    if not isinstance(data, dict):
        raise SpecError([SpecIssue(file=file, field="(file)", message="expected a mapping of solution names")])
    outcomes: dict[str, ExpectedOutcome] = {}
    issues = []
    for name, body in data.items():
        try:
            outcomes[str(name)] = ExpectedOutcome.model_validate(body)
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(part) for part in (name, *error["loc"]))
                issues.append(SpecIssue(file=file, field=where, message=error["msg"]))
        if not (root / "solutions" / str(name)).is_dir():
            issues.append(SpecIssue(file=file, field=str(name), message=f"no folder solutions/{name}"))
    if REFERENCE not in outcomes:
        issues.append(SpecIssue(file=file, field=REFERENCE, message="the reference solution must be listed"))
    if issues:
        raise SpecError(issues)
    return outcomes


def describe(grade: Grade) -> str:
    levels = ", ".join(f"{c.id} {c.level}" for c in grade.criteria)
    flags = f"; flags {sorted({f.code for f in grade.flags})}" if grade.flags else ""
    return f"{grade.score:g}/{grade.max_score:g} {'pass' if grade.passed else 'fail'} ({levels}){flags}"


def describe_expected(expected: ExpectedOutcome) -> str:
    score = f"{expected.score:g} " if expected.score is not None else ""
    return f"{score}{'pass' if expected.passed else 'fail'}" + (f"; flags {expected.flags}" if expected.flags else "")


def compare_outcome(expected: ExpectedOutcome, grade: Grade) -> list[str]:
    """How a grade differs from what the author wrote down (empty when it matches)."""
    problems = []
    for field in ("score", "max_score", "percent"):
        want = getattr(expected, field)
        if want is not None and round(want, 2) != round(getattr(grade, field), 2):
            problems.append(f"{field} {getattr(grade, field):g}, expected {want:g}")
    if expected.passed != grade.passed:
        problems.append(f"passed {grade.passed}, expected {expected.passed}" + (f" ({grade.reason})" if grade.reason else ""))
    by_id = {c.id: c for c in grade.criteria}
    for criterion_id, want_criterion in expected.criteria.items():
        got = by_id.get(criterion_id)
        if got is None:
            problems.append(f"criterion {criterion_id} does not exist")
            continue
        if want_criterion.points is not None and round(want_criterion.points, 2) != round(got.points, 2):
            problems.append(f"{criterion_id} points {got.points:g}, expected {want_criterion.points:g}")
        if want_criterion.level is not None and want_criterion.level != got.level:
            problems.append(f"{criterion_id} level {got.level}, expected {want_criterion.level}")
    missing_flags = sorted(set(expected.flags) - {f.code for f in grade.flags})
    if missing_flags:
        problems.append(f"flags {missing_flags} expected, not raised")
    return problems


def reference_problems(grade: Grade) -> list[str]:
    """Why the reference run cannot stand as the measure of the assignment (empty when it can)."""
    problems = []
    uncollected = sorted({t.id.split("::")[0] for t in grade.tests if t.message.startswith("could not be collected")})
    if uncollected:
        problems.append(f"test files failed to collect against the reference: {uncollected}")
    for flag in grade.flags:
        if flag.code in ("unexpected-test", "missing-results"):
            problems.append(
                f"the tests pytest ran differ from those found by reading the files ({flag.code}: {flag.detail})"
            )
    if grade.score != grade.max_score or not grade.passed:
        failing = [t.id for t in grade.tests if t.outcome is not Outcome.PASSED][:5]
        problems.append(f"the reference scores {grade.score:g}/{grade.max_score:g}, not 100% and passing: {failing}")
    return problems


def reported_ids(grade: Grade) -> dict[str, list[str]]:
    reported: dict[str, list[str]] = {}
    for test in grade.tests:
        if test.outcome is not Outcome.MISSING:
            reported.setdefault(test.suite, []).append(test.id)
    return reported


def local_snapshot(folder: Path, dest: Path) -> Snapshot:
    """A solution folder as a snapshot: regular files copied (no links, no caches), a commit-like digest."""
    digest = hashlib.sha256()
    count = size = 0
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file() or "__pycache__" in path.parts:
            continue
        rel = path.relative_to(folder)
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        data = path.read_bytes()
        digest.update(rel.as_posix().encode() + b"\0" + hashlib.sha256(data).digest())
        count, size = count + 1, size + len(data)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return Snapshot(url=folder.resolve().as_uri(), commit=digest.hexdigest()[:40], ref=None, path=dest, files=count,
                    bytes=size)


def check_assignment(path: Path, settings: Settings, progress: Progress = lambda _: None) -> CheckReport:
    """Grade the reference and every listed solution; compare. Raises SpecError for a malformed spec or
    expected outcomes, and the grading pipeline's faults for the system's."""
    from grader.grading.pipeline import _Stopwatch, grade_snapshot

    loaded = load_assignment(path)
    expected = load_expected(loaded.root)
    # Collection is measured against the files alone: the manifest being checked does not count yet.
    static = loaded.model_copy(update={"manifest": None})
    rows: list[CheckRow] = []
    problems: list[str] = []
    manifest: Manifest | None = None
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    for name in [REFERENCE, *sorted(n for n in expected if n != REFERENCE)]:
        progress(f"grading solutions/{name}")
        with tempfile.TemporaryDirectory(prefix="check-", dir=settings.work_dir) as folder:
            snapshot = local_snapshot(loaded.root / "solutions" / name, Path(folder) / "snapshot")
            # The known-bad solutions are graded over the manifest the reference run just fixed.
            chosen: LoadedAssignment = (
                static if manifest is None else loaded.model_copy(update={"manifest": manifest.tests})
            )
            grade = grade_snapshot(chosen, snapshot, settings, _Stopwatch(lambda *_: None), None).grade
        if name == REFERENCE:
            problems = reference_problems(grade)
            if not problems:
                manifest = manifest_from_results(reported_ids(grade))
        rows.append(CheckRow(solution=name, expected=describe_expected(expected[name]), got=describe(grade),
                             problems=compare_outcome(expected[name], grade)))
    current = manifest is None or loaded.manifest == manifest.tests
    return CheckReport(assignment=f"{loaded.spec.id} {loaded.spec.version}", rows=rows, problems=problems,
                       manifest=manifest, manifest_current=current)


def write_manifest(root: Path, manifest: Manifest) -> Path:
    target = root / MANIFEST_FILE
    target.write_text(manifest.dumps(), encoding="utf-8")
    return target
