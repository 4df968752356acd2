"""The pipeline over fake ports: stages in order, the one issue stage, faults passed through untouched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from grader.config import Settings
from grader.core.errors import IssuerUnavailable, LearnerFault, SystemFault
from grader.core.evidence import Evidence
from grader.core.grade import Grade
from grader.core.spec import AssignmentSpec, LoadedAssignment, load_assignment
from grader.grading.pipeline import grade_repository
from tests.conftest import LEDGER_DIR
from tests.unit.fakes import COMMIT, FakeFetcher, FakeSandbox, fake_ports

URL = "https://git.example/ann/ledger.git"


@pytest.fixture(scope="module")
def ledger() -> LoadedAssignment:
    return load_assignment(LEDGER_DIR)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path)


class Issuer:
    def __init__(self, unavailable: bool = False) -> None:
        self.issued: list[Grade] = []
        self.unavailable = unavailable

    def issue(self, grade: Grade, evidence: Evidence, spec: AssignmentSpec) -> dict[str, Any]:
        if self.unavailable:
            raise IssuerUnavailable("no keys here")
        self.issued.append(grade)
        return {"id": "urn:uuid:fake", "commit": evidence.commit}


def events_of(calls: list[tuple[str, str, str]]) -> list[str]:
    return [f"{stage}:{status}" for stage, status, _ in calls if status != "info"]


def test_a_passing_run_goes_through_every_stage_and_is_issued(ledger: LoadedAssignment, settings: Settings) -> None:
    calls: list[tuple[str, str, str]] = []
    issuer = Issuer()
    result = grade_repository(
        URL, ledger, settings, on_event=lambda *e: calls.append(e), issuer=issuer, ports=fake_ports()
    )
    assert result.grade.passed and result.grade.percent == 100.0 and result.grade.commit == COMMIT
    assert result.credential == {"id": "urn:uuid:fake", "commit": COMMIT} and len(issuer.issued) == 1
    assert events_of(calls) == [
        "fetch:start", "fetch:done", "build:start", "build:done", "run:start", "run:done",
        "judge:start", "judge:done", "issue:start", "issue:done",
    ]
    assert set(result.timings) == {"fetch", "build", "run", "judge", "issue"}
    assert result.evidence.image == "fake/py-ledger:test" and result.evidence.repository == URL


def test_a_failing_grade_is_never_issued(ledger: LoadedAssignment, settings: Settings) -> None:
    failing = set(ledger.all_test_ids()[:20])
    issuer = Issuer()
    result = grade_repository(URL, ledger, settings, issuer=issuer, ports=fake_ports(FakeSandbox(failing=failing)))
    assert not result.grade.passed and result.credential is None and issuer.issued == []


def test_an_unavailable_issuer_keeps_the_grade_and_says_why(ledger: LoadedAssignment, settings: Settings) -> None:
    calls: list[tuple[str, str, str]] = []
    result = grade_repository(
        URL, ledger, settings, on_event=lambda *e: calls.append(e), issuer=Issuer(unavailable=True), ports=fake_ports()
    )
    assert result.grade.passed and result.credential is None
    assert ("issue", "skipped", "no keys here") in calls


@pytest.mark.parametrize("fault", [LearnerFault("no such repository"), SystemFault("engine down")])
def test_faults_of_the_ports_pass_through_with_their_kind(
    ledger: LoadedAssignment, settings: Settings, fault: Exception
) -> None:
    calls: list[tuple[str, str, str]] = []
    fetch_fault = isinstance(fault, LearnerFault)
    ports = fake_ports(
        FakeSandbox(faults=[] if fetch_fault else [fault]),  # type: ignore[list-item]
        FakeFetcher(faults=[fault] if fetch_fault else []),  # type: ignore[list-item]
    )
    with pytest.raises(type(fault)):
        grade_repository(URL, ledger, settings, on_event=lambda *e: calls.append(e), ports=ports)
    failed = "fetch" if fetch_fault else "run"
    assert (failed, "fail", str(fault)) in calls
    assert list(settings.work_dir.iterdir()) == []  # the workspace is removed whatever happens
