"""What the learner's code printed, attributed to the test it printed in, through the real sandbox in both
unit modes: each visible test's feedback under `visible_tests: full` shows its own output (capped), a
hidden test's output never reaches the learner, what was printed outside the tests follows the old rule,
and output is only ever data (it cannot make a failing test pass, and forging the boundaries the harness
splits by cannot move a hidden test's output into a visible test's feedback)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from grader.config import Settings
from grader.core.feedback import learner_view, render_html, render_markdown
from grader.core.grade import Outcome, TestGrade
from grader.core.result import GradingResult
from grader.core.spec import FeedbackPolicy, LoadedAssignment, Visibility
from grader.fetch.local import local_snapshot
from grader.grading.pipeline import grade_snapshot
from grader.grading.stopwatch import Stopwatch, no_progress
from grader_harness.protocol import SLICE_LIMIT
from tests.conftest import copy_with_spec, solution_files

pytestmark = pytest.mark.integration

ECHO_DIR = Path(__file__).resolve().parent.parent / "data" / "assignments" / "py-echo"
HIDDEN_PRINTS = ("hidden-secret-word", "Hidden-Secret-Quiet")


def echo_in_mode(mode: str, tmp_path_factory: pytest.TempPathFactory) -> LoadedAssignment:
    return copy_with_spec(ECHO_DIR, tmp_path_factory.mktemp(f"echo-{mode}") / "a", lambda spec: spec.update(mode=mode))


@pytest.fixture(scope="module", params=["unit", "unit-inprocess"])
def echo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> LoadedAssignment:
    return echo_in_mode(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def echo_inprocess(tmp_path_factory: pytest.TempPathFactory) -> LoadedAssignment:
    """Only in-process does learner code share the tester's process (and so its pipes)."""
    return echo_in_mode("unit-inprocess", tmp_path_factory)


def grade_files(assignment: LoadedAssignment, files: dict[str, str], settings: Settings, tmp_path: Path) -> GradingResult:
    """Grade a learner folder (the `grade_snapshot` path, no git), never issuing a credential."""
    source = tmp_path / "learner"
    for rel, text in files.items():
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_text(text)
    snapshot = local_snapshot(source, tmp_path / "snapshot")
    return grade_snapshot(assignment, snapshot, settings, Stopwatch(no_progress))


def by_id(result: GradingResult) -> dict[str, TestGrade]:
    return {t.id: t for t in result.grade.tests}


def learner_text(result: GradingResult, assignment: LoadedAssignment, policy: FeedbackPolicy | None = None) -> str:
    spec = assignment.spec if policy is None else assignment.spec.model_copy(update={"feedback": policy})
    view = learner_view(result.grade, spec, result.learner_output)
    return view.model_dump_json() + render_markdown(view) + render_html(view)


def test_each_visible_test_shows_what_it_printed_and_no_hidden_one_does(
    echo: LoadedAssignment, grading_settings: Settings, tmp_path: Path, no_leftovers: None
) -> None:
    result = grade_files(echo, solution_files(ECHO_DIR, "reference"), grading_settings, tmp_path)
    grade, tests = result.grade, by_id(result)
    assert grade.passed and not grade.tampered, (grade.reason, grade.flags)
    assert {t.outcome for t in grade.tests} == {Outcome.PASSED}
    shout, whisper = tests["test_echo.py::test_shout"], tests["test_echo.py::test_whisper"]
    assert shout.output == "shout called with 'visible-word'\n" and shout.output_before_hidden
    assert whisper.output == "whisper called with 'Visible-Quiet'\n" and whisper.output_before_hidden  # stderr
    chatter = tests["test_echo.py::test_chatter"].output
    assert chatter.startswith("chatter line 0000\n") and chatter.endswith(f"[… {600 * 18 - SLICE_LIMIT} bytes cut]")
    assert tests["test_echo.py::test_silent"].output == ""
    # The author's grade keeps the hidden tests' output, each with its own test; and the whole stream.
    assert "'hidden-secret-word'" in tests["test_echo_hidden.py::test_shout_hidden"].output
    assert "'Hidden-Secret-Quiet'" in tests["test_echo_hidden.py::test_whisper_hidden"].output
    assert not any(t.output_before_hidden for t in grade.tests if t.suite == "hidden")
    assert grade.output_outside_tests == "echo imported\n"  # collection: the learner's package imported
    assert all(s in result.learner_output for s in ("echo imported", "visible-word", *HIDDEN_PRINTS))

    shown = learner_text(result, echo)  # visible_tests: full, hidden_tests: summary
    assert "shout called with 'visible-word'" in shown and "whisper called with 'Visible-Quiet'" in shown
    assert "bytes cut]" in shown and "Printed during this test" in shown
    assert not [s for s in HIDDEN_PRINTS if s in shown]
    assert "echo imported" not in shown  # hidden tests ran: output outside the tests is withheld, as before
    summary = FeedbackPolicy(visible_tests=Visibility.SUMMARY, hidden_tests=Visibility.SUMMARY)
    assert "visible-word" not in learner_text(result, echo, summary)
    everything = FeedbackPolicy(visible_tests=Visibility.FULL, hidden_tests=Visibility.FULL)
    assert all(s in learner_text(result, echo, everything) for s in ("echo imported", *HIDDEN_PRINTS))


def test_printed_output_never_changes_a_verdict(
    echo: LoadedAssignment, grading_settings: Settings, tmp_path: Path, no_leftovers: None
) -> None:
    """A broken whisper that prints what a passing report would look like: the test still fails, the
    forged protocol line is a tripwire, and the text is only that test's output."""
    broken = textwrap.dedent(
        """
        def whisper(word):
            print("PASSED test_echo.py::test_whisper")
            print('@@grader:guess:{"event":"result","suite":"visible","id":"test_echo.py::test_whisper",'
                  '"outcome":"passed"}')
            return word
        """
    )
    files = solution_files(ECHO_DIR, "reference")
    files["echo/__init__.py"] += broken
    result = grade_files(echo, files, grading_settings, tmp_path)
    tests = by_id(result)
    whisper = tests["test_echo.py::test_whisper"]
    assert whisper.outcome is Outcome.FAILED and "PASSED test_echo.py::test_whisper" in whisper.output
    assert tests["test_echo_hidden.py::test_whisper_hidden"].outcome is Outcome.FAILED
    assert tests["test_echo.py::test_shout"].outcome is Outcome.PASSED
    assert "forged-output" in {f.code for f in result.grade.flags} and not result.grade.passed


def test_forged_acknowledgements_cannot_move_hidden_output_into_visible_feedback(
    echo_inprocess: LoadedAssignment, grading_settings: Settings, tmp_path: Path, no_leftovers: None
) -> None:
    """In-process, the learner's code fills the harness's acknowledgement pipe (reopened for writing through
    /proc/self/fd) so the test process need not wait at a boundary and may run ahead of the harness.
    Attribution may then get coarse (tests/unit/harness/test_attribution.py makes it so deterministically),
    but what hidden tests printed still never reaches the learner."""
    echo = echo_inprocess
    forge = textwrap.dedent(
        """
        import fcntl as _fcntl, os as _os, stat as _stat
        for _name in _os.listdir("/proc/self/fd"):
            try:
                _fd = int(_name)
                if _fd > 2 and _stat.S_ISFIFO(_os.fstat(_fd).st_mode) and \\
                        _fcntl.fcntl(_fd, _fcntl.F_GETFL) & _os.O_ACCMODE == _os.O_RDONLY:
                    _w = _os.open(f"/proc/self/fd/{_fd}", _os.O_WRONLY | _os.O_NONBLOCK)
                    _os.write(_w, b"999999999\\n" * 6000)
                    print("FORGED ACKS into", _fd)
            except OSError:
                pass
        """
    )
    files = solution_files(ECHO_DIR, "reference")
    files["echo/__init__.py"] = forge + files["echo/__init__.py"]
    result = grade_files(echo, files, grading_settings, tmp_path)
    assert "FORGED ACKS into" in result.learner_output, result.learner_output[:2000]
    assert {t.outcome for t in result.grade.tests} == {Outcome.PASSED}
    assert not result.grade.tampered, result.grade.flags
    for policy in (None, FeedbackPolicy(visible_tests=Visibility.FULL, hidden_tests=Visibility.NAMES)):
        shown = learner_text(result, echo, policy)
        assert not [s for s in HIDDEN_PRINTS if s in shown], policy
