"""The grading pipeline: fetch -> build -> run -> judge, each stage timed, then (for the CLI) the one
issue stage of grader.grading.issue.

Stages are plain functions with typed inputs and outputs; this module only strings them together and
reports progress. The CLI and the queue worker both call `grade_repository`; the worker issues in a
job stage of its own, through the same `issue_stage`.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from grader.config import Settings
from grader.core.evidence import Evidence
from grader.core.judge import judge
from grader.core.ownership import OwnershipMethod, OwnershipRequirement
from grader.core.result import GradingResult
from grader.core.similarity import MAX_FILE_BYTES, SimilarityPolicy, SourceFile, select_sources, selected
from grader.core.spec import LoadedAssignment
from grader.fetch.repository import Snapshot
from grader.grading.issue import CredentialIssuer, issue_stage
from grader.grading.ports import REAL_PORTS, GradingPorts
from grader.grading.stopwatch import StageEvent, Stopwatch, no_progress
from grader.sandbox.workspaces import new_workspace

if TYPE_CHECKING:
    from grader.sandbox.images import ImageRef


class ImageAhead:
    """The image lookup (or build) of an assignment, started before its snapshot is fetched, so that the
    run starts as soon as the snapshot is ready. Its progress lines wait until the build stage begins
    (a stage reports only while it runs), then flow live; its fault is raised by the build stage, and
    dropped when the fetch fails first."""

    def __init__(self, assignment: LoadedAssignment, settings: Settings, ports: GradingPorts) -> None:
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._live: Callable[[str], None] | None = None
        self._done = threading.Event()
        self._image: ImageRef | None = None
        self._error: BaseException | None = None
        # A daemon: a build still running when the fetch failed must not hold the process at exit.
        worker = threading.Thread(target=self._build, args=(assignment, settings, ports), name="image-ahead", daemon=True)
        worker.start()

    def _progress(self, line: str) -> None:
        with self._lock:
            live = self._live
            if live is None:
                self._pending.append(line)
                return
        live(line)

    def _build(self, assignment: LoadedAssignment, settings: Settings, ports: GradingPorts) -> None:
        try:
            self._image = ports.build(assignment, settings, self._progress)
        except BaseException as exc:  # handed to the build stage, raised there
            self._error = exc
        finally:
            self._done.set()

    def result(self, progress: Callable[[str], None]) -> ImageRef:
        """The image, once built; raises what the build raised."""
        with self._lock:
            pending, self._pending = self._pending, []
            self._live = progress
        for line in pending:
            progress(line)
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._image is not None
        return self._image


def grade_snapshot(
    assignment: LoadedAssignment,
    snapshot: Snapshot,
    settings: Settings,
    watch: Stopwatch,
    ports: GradingPorts = REAL_PORTS,
    image_ahead: ImageAhead | None = None,
) -> GradingResult:
    """Build, run and judge one snapshot; never issues (grader.grading.issue does, for every caller).
    `image_ahead`: the image's build, already under way. Raises the faults of grader.core.errors: an
    author's (a broken assignment) or the system's."""
    with watch.stage("build", assignment.spec.runner):
        progress: Callable[[str], None] = lambda line: watch.on_event("build", "info", line)  # noqa: E731
        image = image_ahead.result(progress) if image_ahead is not None else ports.build(assignment, settings, progress)
    with watch.stage("run", assignment.spec.mode.value):
        facts = ports.run(assignment, image.tag, snapshot.path, snapshot.commit, settings)
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
        tree=snapshot.tree,
        ownership=snapshot.ownership,
    )
    output = facts.report.end.output if facts.report.end else ""
    return GradingResult(grade=grade, evidence=evidence, timings=watch.timings, learner_output=output)


def read_sources(root: Path, policy: SimilarityPolicy) -> list[SourceFile]:
    """The learner's source files in a snapshot the fetch stage wrote (plain files only, never a link),
    chosen and capped by grader.core.similarity."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            rel = path.relative_to(root).as_posix()
            if selected(rel, policy) and path.stat().st_size <= MAX_FILE_BYTES:
                found.append((rel, path.read_bytes()))
    return select_sources(found, policy)


def grade_repository(
    url: str,
    assignment: LoadedAssignment,
    settings: Settings,
    *,
    ref: str | None = None,
    on_event: StageEvent = no_progress,
    issuer: CredentialIssuer | None = None,
    ports: GradingPorts = REAL_PORTS,
    ownership: OwnershipRequirement | None = None,
    sources: SimilarityPolicy | None = None,
) -> GradingResult:
    """Grade one learner repository end to end (and issue, when an issuer is given). With `ownership`,
    the fetch stage checks the commit's proof of ownership; with `sources`, the learner's source files
    are kept in the result for the similarity check. Raises the faults of grader.core.errors: the
    learner's (a refused URL, no such repository, ownership not proven), the author's or the system's."""
    watch = Stopwatch(on_event)
    workspace = new_workspace(settings, "grade")  # named for this process: the janitor's if it dies
    # The image does not depend on the snapshot: look it up (or build it) while the fetch runs.
    image_ahead = ImageAhead(assignment, settings, ports)
    try:
        with watch.stage("fetch", url):
            dest = workspace / "snapshot"
            if ownership is None or ownership.method is OwnershipMethod.NONE:
                snapshot = ports.fetch(url, ref, dest, settings)
            else:
                snapshot = ports.fetch(url, ref, dest, settings, ownership=ownership)
        # Read before any learner code runs, so what is compared is what was fetched.
        kept = read_sources(snapshot.path, sources) if sources is not None and sources.enabled else []
        result = grade_snapshot(assignment, snapshot, settings, watch, ports, image_ahead)
        if kept:
            result = result.model_copy(update={"sources": kept})
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
    if issuer is None:
        return result
    credential = issue_stage(result.grade, result.evidence, assignment.spec, issuer, watch)
    return result.model_copy(update={"credential": credential, "timings": watch.timings})
