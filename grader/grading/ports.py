"""The pipeline's ports: what it needs from the world, each a small protocol, and the real adapters.

`GradingPorts` bundles a fetcher (a git URL to a snapshot on disk), an image builder and a sandbox
(an assignment's suites run against a snapshot, observed as RunFacts). The real ones talk to git and
the Docker engine; tests of the pipeline and the worker's state machine pass fakes and run in
milliseconds. Each port raises the faults of grader.core.errors, never anything else on purpose.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from grader.config import Settings
from grader.core.judge import RunFacts
from grader.core.ownership import OwnershipRequirement
from grader.core.spec import LoadedAssignment, Mode
from grader.fetch.repository import Snapshot, fetch_snapshot
from grader.sandbox.images import ImageRef, assignment_image
from grader.sandbox.isolated_mode import run_isolated
from grader.sandbox.service_mode import run_service
from grader.sandbox.unit_mode import run_inprocess


class Fetcher(Protocol):
    def __call__(
        self, url: str, ref: str | None, dest: Path, settings: Settings, ownership: OwnershipRequirement | None = None
    ) -> Snapshot: ...


class ImageBuilder(Protocol):
    def __call__(self, assignment: LoadedAssignment, settings: Settings, progress: Callable[[str], None]) -> ImageRef: ...


class Sandbox(Protocol):
    def __call__(
        self, assignment: LoadedAssignment, image: str, snapshot: Path, commit: str, settings: Settings
    ) -> RunFacts: ...


RUNNERS: dict[Mode, Sandbox] = {Mode.UNIT: run_isolated, Mode.UNIT_INPROCESS: run_inprocess, Mode.SERVICE: run_service}


def docker_sandbox(
    assignment: LoadedAssignment, image: str, snapshot: Path, commit: str, settings: Settings
) -> RunFacts:
    """The real sandbox: the runner of the assignment's mode, in Docker."""
    return RUNNERS[assignment.spec.mode](assignment, image, snapshot, commit, settings)


@dataclass(frozen=True)
class GradingPorts:
    fetch: Fetcher = fetch_snapshot
    build: ImageBuilder = assignment_image
    run: Sandbox = docker_sandbox


REAL_PORTS = GradingPorts()
