"""Service mode end to end: the learner's service in its own container, the tests in another, an
internal network between them, and nothing left behind."""

from __future__ import annotations

import shutil
import textwrap
import time
from collections.abc import Callable, Iterator

import pytest
import yaml

from grader.core.result import GradingResult
from grader.core.spec import LoadedAssignment, load_assignment
from grader.demo.local import expected_mismatches
from grader.sandbox.containers import leftover_containers, leftover_networks
from tests.conftest import NOTES_DIR, PublishFiles, solution_files

pytestmark = pytest.mark.integration

NOTES_SOLUTIONS = NOTES_DIR / "solutions"
EXPECTED = yaml.safe_load((NOTES_SOLUTIONS / "expected.yaml").read_text())
READY_TIMEOUT_S = 6


def notes_files(name: str, overrides: dict[str, str] | None = None) -> dict[str, str]:
    return solution_files(NOTES_DIR, name, overrides)


@pytest.fixture(scope="session")
def notes() -> LoadedAssignment:
    return load_assignment(NOTES_DIR)


@pytest.fixture(scope="session")
def quick_notes(tmp_path_factory: pytest.TempPathFactory) -> LoadedAssignment:
    """The notes assignment with a short readiness timeout and one more visible test, which checks
    from inside the tester that the learner's code is not there."""
    target = tmp_path_factory.mktemp("quick-notes") / "py-notes-api"
    shutil.copytree(NOTES_DIR, target, ignore=shutil.ignore_patterns("solutions", "__pycache__"))
    spec = yaml.safe_load((target / "assignment.yaml").read_text())
    spec["service"]["ready"]["timeout_s"] = READY_TIMEOUT_S
    spec["limits"]["timeout_s"] = 20
    (target / "assignment.yaml").write_text(yaml.safe_dump(spec))
    visible = target / "tests" / "visible" / "test_notes.py"
    visible.write_text(
        visible.read_text()
        + textwrap.dedent(
            """

            def test_the_tester_holds_no_learner_code():
                import os
                assert not os.path.exists("/workspace")
                assert os.environ["GRADER_SERVICE_URL"] == "http://service:8000"
            """
        )
    )
    # The copy's suite has one more test than the manifest lists: graded over the files alone, as unchecked.
    (target / "manifest.json").unlink()
    return load_assignment(target)


@pytest.fixture
def nothing_left() -> Iterator[None]:
    yield
    assert leftover_containers() == []
    assert leftover_networks() == []


@pytest.mark.parametrize("name", ["reference", "partial", "failing"])
def test_bundled_solutions_score_exactly_as_written_down(
    name: str, publish_files: PublishFiles, grade_url: Callable[..., GradingResult], notes, nothing_left
) -> None:
    result = grade_url(publish_files(notes_files(name)), notes)
    assert expected_mismatches(result.grade, EXPECTED[name]) == []
    assert result.grade.flags == []
    assert result.grade.mode == "service" and result.evidence.mode == "service"
    assert result.evidence.runtime == "runc"


def test_tester_reaches_the_service_by_name_without_its_code(
    publish_files, grade_url, quick_notes, nothing_left
) -> None:
    result = grade_url(publish_files(notes_files("reference")), quick_notes)
    assert result.grade.passed and result.grade.percent == 100.0, result.grade.reason
    own = [t for t in result.grade.tests if t.id.endswith("test_the_tester_holds_no_learner_code")]
    assert [t.outcome.value for t in own] == ["passed"]


def test_hidden_tests_never_reach_the_learners_container(publish_files, grade_url, quick_notes, nothing_left) -> None:
    """The service looks for the tests everywhere it can read, and says what it found in its log."""
    probe = """
        import os
        found = []
        for top in ("/grader", "/workspace", "/tmp", "/opt", "/home", "/root", "/srv", "/mnt", "/var"):
            for root, dirs, names in os.walk(top):
                found += [os.path.join(root, n) for n in names if n.startswith("test_") or n == "conftest.py"]
        print("GRADER-DIR", os.path.exists("/grader"), "FOUND", found, flush=True)
    """
    files = notes_files("reference", {"notes_api/probe.py": probe})
    files["notes_api/__main__.py"] = "from . import probe  # noqa: F401\n" + files["notes_api/__main__.py"]
    result = grade_url(publish_files(files), quick_notes)
    assert "GRADER-DIR False FOUND []" in result.learner_output
    assert result.grade.passed and result.grade.percent == 100.0


def test_slow_start_is_waited_for(publish_files, grade_url, quick_notes, nothing_left) -> None:
    files = notes_files("reference")
    files["notes_api/__main__.py"] = "import time\ntime.sleep(3)\n" + files["notes_api/__main__.py"]
    result = grade_url(publish_files(files), quick_notes)
    assert result.grade.passed and result.grade.percent == 100.0, result.grade.reason


def test_service_that_never_answers_fails_with_the_reason(publish_files, grade_url, quick_notes, nothing_left) -> None:
    files = notes_files("reference", {"notes_api/__main__.py": "import time\ntime.sleep(3600)\n"})
    started = time.monotonic()
    result = grade_url(publish_files(files), quick_notes)
    grade = result.grade
    assert grade.passed is False and grade.score == 0.0 and not grade.tampered
    assert "did not become ready within" in grade.reason
    assert all(t.outcome.value == "missing" and "did not run" in t.message for t in grade.tests)
    assert time.monotonic() - started < READY_TIMEOUT_S + 25


def test_service_that_crashes_at_start_fails_with_its_exit_code(
    publish_files, grade_url, quick_notes, nothing_left
) -> None:
    files = notes_files("reference", {"notes_api/__main__.py": "raise SystemExit('cannot start: no config')\n"})
    result = grade_url(publish_files(files), quick_notes)
    grade = result.grade
    assert grade.passed is False and not grade.tampered
    assert "exited with code 1" in grade.reason, grade.reason
    assert "cannot start: no config" in result.learner_output


def test_build_failure_is_reported(publish_files, grade_url, quick_notes, nothing_left) -> None:
    files = notes_files("reference", {"notes_api/broken.py": "def oops(:\n"})
    result = grade_url(publish_files(files), quick_notes)
    assert result.grade.passed is False and not result.grade.tampered
    assert "exited with code" in result.grade.reason
    assert "SyntaxError" in result.learner_output or "broken.py" in result.learner_output


def test_spec_commands_run_from_the_read_only_snapshot(publish_files, grade_url, quick_notes, nothing_left) -> None:
    """The service may write under /tmp only; the snapshot is mounted read-only."""
    probe = """
        import os
        for target in ("/workspace/submission/written.txt", "/tmp/written.txt"):
            try:
                with open(target, "w") as handle:
                    handle.write("x")
                print("WROTE", target, flush=True)
            except OSError as exc:
                print("REFUSED", target, type(exc).__name__, flush=True)
        print("UID", os.getuid(), flush=True)
    """
    files = notes_files("reference", {"notes_api/probe.py": probe})
    files["notes_api/__main__.py"] = "from . import probe  # noqa: F401\n" + files["notes_api/__main__.py"]
    result = grade_url(publish_files(files), quick_notes)
    output = result.learner_output
    assert "REFUSED /workspace/submission/written.txt" in output and "WROTE /tmp/written.txt" in output
    assert "UID 1000" in output
    assert result.grade.passed


def test_leftovers_are_removed_even_when_the_service_ignores_signals(
    publish_files, grade_url, quick_notes, nothing_left
) -> None:
    stubborn = "import signal\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n    signal.signal(s, signal.SIG_IGN)\n"
    files = notes_files("reference")
    files["notes_api/__main__.py"] = stubborn + files["notes_api/__main__.py"]
    result = grade_url(publish_files(files), quick_notes)
    assert result.grade.passed


def test_ready_path_must_answer_below_400(publish_files, grade_url, quick_notes, nothing_left) -> None:
    """A service whose readiness path is 404 is never ready."""
    files = notes_files("reference")
    server = files["notes_api/server.py"].replace('if path == "/health":', 'if path == "/healthz":')
    files["notes_api/server.py"] = server
    result = grade_url(publish_files(files), quick_notes)
    assert result.grade.passed is False
    assert "HTTP 404" in result.grade.reason
