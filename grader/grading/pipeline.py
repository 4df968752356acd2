"""The grading pipeline: fetch -> prepare -> run -> judge -> feedback -> issue, each stage timed.

Stages are plain functions with typed inputs and outputs; this module only strings them together and
reports progress. The CLI and the queue worker both call `grade_repository`.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from grader.config import Settings
from grader.core.evidence import Evidence
from grader.core.grade import Grade
from grader.core.issuance_rule import issuable
from grader.core.judge import judge
from grader.core.result import GradingResult
from grader.core.spec import LoadedAssignment, Mode
from grader.fetch.repository import Snapshot, fetch_snapshot
from grader.sandbox.images import ImageRef, assignment_image
from grader.sandbox.isolated_mode import run_isolated
from grader.sandbox.service_mode import run_service
from grader.sandbox.unit_mode import run_inprocess

STAGES = ("fetch", "build", "run", "judge", "issue")
RUNNERS = {Mode.UNIT: run_isolated, Mode.UNIT_INPROCESS: run_inprocess, Mode.SERVICE: run_service}
StageEvent = Callable[[str, str, str], None]  # (stage, status: start|done|fail, detail)


class CredentialIssuer(Protocol):
    """Issues a credential for a passing grade (see grader.issuing.local)."""

    def issue(self, grade: Grade, evidence: Evidence, assignment: LoadedAssignment) -> dict[str, Any]: ...


def _no_progress(stage: str, status: str, detail: str) -> None:
    return None


class _Stopwatch:
    def __init__(self, on_event: StageEvent) -> None:
        self.timings: dict[str, float] = {}
        self.on_event = on_event

    @contextmanager
    def stage(self, name: str, detail: str = "") -> Iterator[None]:
        self.on_event(name, "start", detail)
        started = time.monotonic()
        try:
            yield
        except BaseException as exc:
            self.timings[name] = round(time.monotonic() - started, 3)
            self.on_event(name, "fail", str(exc))
            raise
        self.timings[name] = round(time.monotonic() - started, 3)
        self.on_event(name, "done", "")


def grade_snapshot(
    assignment: LoadedAssignment,
    snapshot: Snapshot,
    settings: Settings,
    watch: _Stopwatch,
    issuer: CredentialIssuer | None,
) -> GradingResult:
    with watch.stage("build", assignment.spec.runner):
        image: ImageRef = assignment_image(assignment, settings, lambda line: watch.on_event("build", "info", line))
    with watch.stage("run", assignment.spec.mode.value):
        run = RUNNERS[assignment.spec.mode]
        facts = run(assignment, image.tag, snapshot.path, snapshot.commit, settings)
    with watch.stage("judge"):
        grade = judge(assignment, facts)
    evidence = Evidence(
        repository=snapshot.url,
        commit=snapshot.commit,
        ref=snapshot.ref,
        assignment_id=assignment.spec.id,
        assignment_version=assignment.spec.version,
        spec_hash=assignment.spec_hash,
        image=image.tag,
        image_id=image.id,
        runtime=facts.container.runtime,
        mode=assignment.spec.mode.value,
    )
    credential = None
    if issuer is not None and issuable(grade, assignment.spec):
        with watch.stage("issue"):
            credential = issuer.issue(grade, evidence, assignment)
    output = facts.report.end.output if facts.report.end else ""
    return GradingResult(
        grade=grade, evidence=evidence, timings=watch.timings, learner_output=output, credential=credential
    )


def grade_repository(
    url: str,
    assignment: LoadedAssignment,
    settings: Settings,
    *,
    ref: str | None = None,
    on_event: StageEvent = _no_progress,
    issuer: CredentialIssuer | None = None,
) -> GradingResult:
    """Grade one learner repository end to end. Bad input raises UrlRefused / FetchFailed."""
    watch = _Stopwatch(on_event)
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    workspace = Path(tempfile.mkdtemp(prefix="grade-", dir=settings.work_dir))
    try:
        with watch.stage("fetch", url):
            snapshot = fetch_snapshot(url, ref, workspace / "snapshot", settings)
        return grade_snapshot(assignment, snapshot, settings, watch, issuer)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
