"""Shared pieces of the adversarial suite: a quick copy of the ledger assignment, hostile repositories
built from the bundled solutions, one assertion of "defeated", and the generated results table.

Every attack is a real learner repository served over git HTTP and graded through the whole pipeline
(fetch, image, sandbox, judge), against the real Docker engine. Each unit-mode attack is graded twice:
in the in-process mode (`unit-inprocess`, where the test asserts which defence in depth caught it) and
in isolated unit mode (the default for `mode: unit`), where it must gain nothing: no pass, no
credential, no score above the honest score of the solution it was built on. When the full suite has run and
passed, `tests/adversarial/RESULTS.md` is rewritten from the recorded outcomes; scripts/security-table.py
copies that table into SECURITY.md.
"""

from __future__ import annotations

import json
import os
import socket
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from grader.config import Settings
from grader.core.result import GradingResult
from grader.core.spec import LoadedAssignment
from grader.grading.pipeline import grade_repository
from grader.issuing.local import local_issuer as make_issuer
from tests.conftest import LEDGER_DIR, NOTES_DIR, PublishFiles, copy_with_spec
from tests.conftest import solution_files as shared_solution_files

HERE = Path(__file__).resolve().parent
RESULTS_MD = HERE / "RESULTS.md"
RESULTS_JSON = HERE / "results.json"
TABLE_ENV = "GRADER_ADVERSARIAL_TABLE"
TIMEOUT_S = 10
FAILING_SCORE = 29.01  # the bundled failing solution, graded honestly (solutions/expected.yaml)
NOTES_FAILING_SCORE = 13.33


@dataclass
class Outcome:
    case: str
    attack: str
    layer: str
    passed: bool
    score: float
    flags: list[str]
    notes: str = ""


@dataclass
class Ledger:
    rows: list[Outcome] = field(default_factory=list)


LEDGER = Ledger()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.path)).parent == HERE:
            item.add_marker(pytest.mark.adversarial)
            item.add_marker(pytest.mark.integration)


def solution_files(name: str, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """A bundled ledger solution as {path: text}, with files replaced or added (dedented)."""
    return shared_solution_files(LEDGER_DIR, name, overrides)


def failing_with(init_prefix: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The failing solution, with `init_prefix` run first when `ledger` is imported."""
    base = solution_files("failing")
    files = solution_files("failing", extra)
    files["ledger/__init__.py"] = textwrap.dedent(init_prefix) + "\n" + base["ledger/__init__.py"]
    return files


def reference_with(init_prefix: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    base = solution_files("reference")
    files = solution_files("reference", extra)
    files["ledger/__init__.py"] = textwrap.dedent(init_prefix) + "\n" + base["ledger/__init__.py"]
    return files


@pytest.fixture(scope="session")
def quick_ledger(tmp_path_factory: pytest.TempPathFactory) -> LoadedAssignment:
    """The ledger assignment in the in-process mode with a 10 s deadline, so slow attacks are cut quickly.

    In-process mode never issues a credential, so its spec has no credential block."""

    def edit(spec: dict[str, Any]) -> None:
        spec["limits"].update(timeout_s=TIMEOUT_S)
        spec["mode"] = "unit-inprocess"
        del spec["credential"]

    return copy_with_spec(LEDGER_DIR, tmp_path_factory.mktemp("adversarial") / "py-ledger", edit)


@pytest.fixture(scope="session")
def isolated_ledger(tmp_path_factory: pytest.TempPathFactory) -> LoadedAssignment:
    """The ledger assignment in isolated unit mode (as bundled, credential included), 10 s deadline."""
    target = tmp_path_factory.mktemp("adversarial-isolated") / "py-ledger"
    return copy_with_spec(LEDGER_DIR, target, lambda spec: spec["limits"].update(timeout_s=TIMEOUT_S))


@pytest.fixture(scope="session")
def quick_notes(tmp_path_factory: pytest.TempPathFactory) -> LoadedAssignment:
    """The service-mode notes assignment with short timeouts."""

    def shorten(spec: dict[str, Any]) -> None:
        spec["limits"]["timeout_s"] = 20
        spec["service"]["ready"]["timeout_s"] = 8

    return copy_with_spec(NOTES_DIR, tmp_path_factory.mktemp("adversarial-notes") / "py-notes-api", shorten)


def notes_files(name: str, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """A bundled notes-API solution as {path: text}, with files replaced or added (dedented)."""
    return shared_solution_files(NOTES_DIR, name, overrides)


def honest_baseline(files: dict[str, str]) -> float:
    """The honest score of the bundled solution an attack was built on (the reference or the failing one)."""
    reference = solution_files("reference")
    built_on_reference = all(files.get(path) == text for path, text in reference.items() if path != "ledger/__init__.py")
    return 100.0 if built_on_reference else FAILING_SCORE


def assert_isolated_gains_nothing(result: GradingResult, baseline: float) -> None:
    """Isolated unit mode: the attack neither passes failing code nor raises a score above honest."""
    grade = result.grade
    assert grade.mode == "unit" and result.evidence.mode == "unit"
    assert grade.score <= baseline, (grade.score, baseline, grade.reason, sorted(codes(result)))
    if baseline < 80:
        assert grade.passed is False and result.credential is None, (grade.score, grade.reason)
    if result.credential is not None:
        assert grade.passed and not grade.tampered


@dataclass
class IsolatedRow:
    case: str
    passed: bool
    score: float
    baseline: float


ISOLATED: list[IsolatedRow] = []


@pytest.fixture
def attack(
    publish_files: PublishFiles,
    grading_settings: Settings,
    quick_ledger: LoadedAssignment,
    isolated_ledger: LoadedAssignment,
    request: pytest.FixtureRequest,
) -> Callable[..., GradingResult]:
    """Publish a hostile repository and grade it end to end, with a credential issuer where one exists.

    A unit-mode attack (no other assignment given) is graded in the in-process mode, whose result is
    returned for the test's own assertions, and then in isolated unit mode, asserted here to gain nothing.
    """

    def run(
        files: dict[str, str] | None = None,
        assignment: LoadedAssignment | None = None,
        settings: Settings | None = None,
        url: str | None = None,
    ) -> GradingResult:
        chosen = settings or grading_settings
        target = url or publish_files(files or {})
        result = grade_repository(target, assignment or quick_ledger, chosen, issuer=make_issuer(chosen))
        if assignment is None:
            baseline = honest_baseline(files or {})
            isolated = grade_repository(target, isolated_ledger, chosen, issuer=make_issuer(chosen))
            assert_isolated_gains_nothing(isolated, baseline)
            case = request.node.name.removeprefix("test_")
            ISOLATED.append(IsolatedRow(case, isolated.grade.passed, isolated.grade.score, baseline))
        return result

    return run


@pytest.fixture
def host_marker(tmp_path: Path) -> Iterator[Path]:
    """A file on the host that attacks aim at by its absolute path; it must come out unchanged."""
    folder = tmp_path / "host-side"
    folder.mkdir()
    marker = folder / "host-marker.txt"
    marker.write_text("untouched\n")
    before = marker.stat().st_mtime_ns
    yield marker
    assert marker.read_text() == "untouched\n"
    assert marker.stat().st_mtime_ns == before
    assert sorted(p.name for p in folder.iterdir()) == ["host-marker.txt"]


@pytest.fixture
def host_listener() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP listener on every host interface: nothing from the sandbox may ever reach it."""
    server = socket.create_server(("0.0.0.0", 0))
    server.settimeout(0.2)
    received: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                received.append(conn.recv(65536) or b"<connected>")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], received
    stop.set()
    thread.join(timeout=2)
    server.close()


@pytest.fixture
def no_networks() -> Iterator[None]:
    """After a service-mode attack: its internal network is gone too."""
    from grader.sandbox.containers import leftover_networks

    yield
    assert leftover_networks() == []


def codes(result: GradingResult) -> set[str]:
    return {f.code for f in result.grade.flags}


def assert_defeated(
    result: GradingResult,
    *,
    flags: set[str] = frozenset(),  # type: ignore[assignment]
    tripwire: bool = True,
    score: float | None = None,
) -> None:
    """No pass, no credential, every expected flag named; a tripwire means a zero score."""
    grade = result.grade
    assert grade.passed is False, (grade.score, grade.reason, codes(result))
    assert result.credential is None
    assert flags <= codes(result), (sorted(codes(result)), grade.reason, result.learner_output[-2500:])
    if tripwire:
        assert grade.tampered and grade.score == 0.0, (grade.score, sorted(codes(result)))
    if score is not None:
        assert grade.score == score, (grade.score, sorted(codes(result)), grade.reason)


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Record one attack's outcome for the generated table (case id = the test's name)."""

    def add(result: GradingResult | None, attack: str, layer: str, notes: str = "") -> None:
        case = request.node.name.removeprefix("test_")
        if result is None:
            LEDGER.rows.append(Outcome(case, attack, layer, False, 0.0, [], notes))
            return
        grade = result.grade
        flags = sorted({f"**{f.code}**" if f.tripwire else f.code for f in grade.flags})
        LEDGER.rows.append(Outcome(case, attack, layer, grade.passed, grade.score, flags, notes or grade.reason))

    return add


def _render(rows: list[Outcome]) -> str:
    lines = [
        "<!-- Generated by tests/adversarial/conftest.py from the last full run of the adversarial suite. -->",
        "",
        f"{len(rows)} attacks, each a learner repository graded end to end against the real Docker engine.",
        "",
        "Unit-mode attacks are graded in both unit modes: *in-process* (`unit-inprocess`, practice only, never a",
        "credential: the columns say which defence in depth caught the attack) and *isolated* (`unit`, the",
        "default: the attack must gain nothing over the honest score of the solution it was built on; an attack",
        "built on the reference solution therefore still passes there, with the reference's own 100).",
        "",
        "| # | case | attack | in-process: stopped by | passed | score | flags (**tripwire**, other: notice) "
        "| isolated: passed | score (honest) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    isolated = {row.case: row for row in ISOLATED}
    for number, row in enumerate(sorted(rows, key=lambda r: r.case), start=1):
        flags = ", ".join(row.flags) or "—"
        other = isolated.get(row.case)
        tail = f"{'yes' if other.passed else 'no'} | {other.score:g} ({other.baseline:g})" if other else "— | —"
        lines.append(
            f"| {number} | `{row.case}` | {row.attack} | {row.layer} | {'yes' if row.passed else 'no'} | "
            f"{row.score:g} | {flags} | {tail} |"
        )
    return "\n".join(lines) + "\n"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the table only when asked (scripts/adversarial-table.sh sets GRADER_ADVERSARIAL_TABLE), and
    only from a complete, green run of this folder: a test run never rewrites tracked files."""
    if os.environ.get(TABLE_ENV) != "1":
        return
    ours = [i for i in session.items if Path(str(i.path)).parent == HERE]
    recorded = {r.case for r in LEDGER.rows}
    expected = {i.name.removeprefix("test_") for i in ours if "record" in getattr(i, "fixturenames", ())}
    every_file = {p.name for p in HERE.glob("test_*.py")} == {Path(str(i.path)).name for i in ours}
    filtered = bool(session.config.getoption("keyword", "") or session.config.getoption("markexpr", ""))
    if not every_file or filtered or exitstatus != 0 or session.testsfailed or recorded != expected:
        return
    RESULTS_MD.write_text(_render(LEDGER.rows))
    payload: list[dict[str, Any]] = [r.__dict__ for r in sorted(LEDGER.rows, key=lambda r: r.case)]
    RESULTS_JSON.write_text(json.dumps(payload, indent=2) + "\n")
