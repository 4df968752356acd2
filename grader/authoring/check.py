"""`grader assignment check`: an assignment graded against its own solutions before anyone else is.

The reference solution and every known-bad solution the author lists in `solutions/expected.yaml` are
graded through the real sandbox, straight from their folders (no git server), and compared with what
the author wrote down. The check refuses when the reference is not 100% and passing, when any of the
author's test files fails to collect, or when the tests pytest collects differ from the ones found by
reading the files. Its reference run also yields the version's test manifest (grader/core/manifest.py).
It never issues a credential.

The comparison (`compare_outcome`, `reference_problems`, `refusals`) is pure, in
grader.core.expectations; `check_assignment` is the shell around it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from grader.config import Settings
from grader.core.expectations import (
    MANIFEST_STALE,
    REFERENCE,
    CheckReport,
    CheckRow,
    compare_outcome,
    describe,
    describe_expected,
    load_expected,
    reference_problems,
    refusals,
    reported_ids,
)
from grader.core.manifest import MANIFEST_FILE, Manifest, manifest_from_results
from grader.core.spec import LoadedAssignment, load_assignment
from grader.fetch.local import local_snapshot
from grader.grading.pipeline import grade_snapshot
from grader.grading.stopwatch import Stopwatch, no_progress

__all__ = ["MANIFEST_STALE", "CheckReport", "check_assignment", "refusals", "write_manifest"]
Progress = Callable[[str], None]


def check_assignment(path: Path, settings: Settings, progress: Progress = lambda _: None) -> CheckReport:
    """Grade the reference and every listed solution; compare. Raises SpecError for a malformed spec or
    expected outcomes, and the grading pipeline's faults for the system's."""
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
            grade = grade_snapshot(chosen, snapshot, settings, Stopwatch(no_progress)).grade
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
