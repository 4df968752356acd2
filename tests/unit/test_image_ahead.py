"""The image is looked up while the snapshot is fetched: the build port runs during the fetch, its
progress lines are reported in the build stage, its fault fails the build stage, and a fetch that
fails does not wait for it."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from grader.config import Settings
from grader.core.errors import LearnerFault, SystemFault
from grader.core.spec import LoadedAssignment, load_assignment
from grader.fetch.repository import Snapshot
from grader.grading.pipeline import grade_repository
from grader.sandbox.images import ImageRef
from tests.conftest import LEDGER_DIR
from tests.unit.fakes import FakeFetcher, fake_image, fake_ports

URL = "https://git.example/ann/ledger.git"
WAIT_S = 30  # a bound on a wait that should end at once; never a measurement


@pytest.fixture(scope="module")
def ledger() -> LoadedAssignment:
    return load_assignment(LEDGER_DIR)


def test_the_image_is_built_while_the_fetch_runs(ledger: LoadedAssignment, tmp_path: Path) -> None:
    building = threading.Event()
    seen_during_fetch: list[bool] = []

    def build(assignment: LoadedAssignment, settings: Settings, progress: Callable[[str], None]) -> ImageRef:
        building.set()
        progress("Step 1/3 : FROM runner")
        return fake_image(assignment, settings, progress)

    class Fetcher(FakeFetcher):
        def __call__(self, url: str, ref: str | None, dest: Path, settings: Settings, ownership: object = None) -> Snapshot:
            seen_during_fetch.append(building.wait(WAIT_S))  # the build began before the fetch returned
            return super().__call__(url, ref, dest, settings)

    calls: list[tuple[str, str, str]] = []
    ports = dataclasses.replace(fake_ports(fetcher=Fetcher()), build=build)
    result = grade_repository(URL, ledger, Settings(home=tmp_path), on_event=lambda *e: calls.append(e), ports=ports)
    assert seen_during_fetch == [True] and result.grade.passed
    stages = [(stage, status) for stage, status, _ in calls]
    # The build's line is reported inside its own stage, after the fetch is done.
    assert stages.index(("fetch", "done")) < stages.index(("build", "start")) < stages.index(("build", "info"))
    assert stages.index(("build", "info")) < stages.index(("build", "done"))


def test_a_build_fault_fails_the_build_stage(ledger: LoadedAssignment, tmp_path: Path) -> None:
    def build(assignment: LoadedAssignment, settings: Settings, progress: Callable[[str], None]) -> ImageRef:
        raise SystemFault("the engine went away")

    calls: list[tuple[str, str, str]] = []
    ports = dataclasses.replace(fake_ports(), build=build)
    with pytest.raises(SystemFault, match="the engine went away"):
        grade_repository(URL, ledger, Settings(home=tmp_path), on_event=lambda *e: calls.append(e), ports=ports)
    assert ("build", "fail") in [(stage, status) for stage, status, _ in calls]


def test_a_failed_fetch_does_not_wait_for_the_build(ledger: LoadedAssignment, tmp_path: Path) -> None:
    release = threading.Event()

    def build(assignment: LoadedAssignment, settings: Settings, progress: Callable[[str], None]) -> ImageRef:
        release.wait(WAIT_S)  # a long build: still running when the fetch fails
        return fake_image(assignment, settings, progress)

    ports = dataclasses.replace(fake_ports(fetcher=FakeFetcher(faults=[LearnerFault("no such repository")])), build=build)
    try:
        with pytest.raises(LearnerFault, match="no such repository"):
            grade_repository(URL, ledger, Settings(home=tmp_path), ports=ports)
        assert not release.is_set()  # the fault came back while the build was still waiting
    finally:
        release.set()
