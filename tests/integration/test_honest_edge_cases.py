"""Honest submissions with unusual but harmless contents are graded on their merits, in both unit modes:
a committed __pycache__ (with a stale .pyc that would break the grade if loaded) and a failure message
holding a lone surrogate, which once crashed the harness and zeroed an 86.99% grade."""

from __future__ import annotations

import importlib.util
import marshal
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from grader.core.result import GradingResult
from grader.core.spec import LoadedAssignment
from grader.demo.gitserver import LoopbackGitServer
from tests.conftest import LEDGER_DIR, LEDGER_SOLUTIONS, PublishFiles, copy_with_spec, solution_files

pytestmark = pytest.mark.integration

MODES = ["unit", "unit-inprocess"]


@pytest.fixture(scope="module", params=MODES)
def ledger_in_mode(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> LoadedAssignment:
    mode = request.param
    target = tmp_path_factory.mktemp(f"ledger-{mode}") / "py-ledger"

    def edit(spec: dict[str, Any]) -> None:
        spec["mode"] = mode
        if mode == "unit-inprocess":
            spec.pop("credential")  # that mode never issues one, so it may not have the block

    return copy_with_spec(LEDGER_DIR, target, edit)


def stale_pyc(source_path: Path, replacement: str) -> bytes:
    """An unchecked hash-based .pyc (PEP 552) whose code is `replacement`: Python runs it instead of the
    source, without looking at the source, whenever it finds it in __pycache__."""
    header = importlib.util.MAGIC_NUMBER + (0b01).to_bytes(4, "little")  # hash-based, check_source off
    header += importlib.util.source_hash(source_path.read_bytes())
    return header + marshal.dumps(compile(replacement, str(source_path), "exec"))


def publish_with_pycache(git_server: LoopbackGitServer, tmp_path: Path) -> str:
    """The reference solution with __pycache__/ committed (LoopbackGitServer.publish leaves it out)."""
    work = tmp_path / "reference-with-pycache"
    shutil.copytree(LEDGER_SOLUTIONS / "reference", work, ignore=shutil.ignore_patterns("__pycache__"))
    cache = work / "ledger" / "__pycache__"
    cache.mkdir()
    tag = "cpython-311"
    for source in (work / "ledger").glob("*.py"):
        (cache / f"{source.stem}.{tag}.pyc").write_bytes(
            stale_pyc(source, "raise ImportError('a committed .pyc was loaded instead of its source')")
        )
    # publish() copies with ignore=__pycache__, so build the bare repository here.
    from grader.demo.gitserver import _git

    name = f"pycache-{tmp_path.name[-12:]}"
    _git("init", "-q", "-b", "main", cwd=work)
    _git("add", "-A", "-f", cwd=work)
    _git("commit", "-q", "-m", name, cwd=work)
    _git("clone", "-q", "--bare", str(work), str(git_server.root / f"{name}.git"), cwd=tmp_path)
    return git_server.url(name)


def test_a_committed_pycache_scores_full_marks(
    git_server: LoopbackGitServer,
    grade_url: Callable[..., GradingResult],
    ledger_in_mode: LoadedAssignment,
    tmp_path: Path,
    no_leftovers: None,
) -> None:
    url = publish_with_pycache(git_server, tmp_path)
    result = grade_url(url, ledger_in_mode)
    grade = result.grade
    codes = {f.code for f in grade.flags}
    assert "write-outside-tmp" not in codes, grade.flags
    assert (grade.score, grade.passed) == (100.0, True), (grade.reason, grade.flags)
    assert "a committed .pyc was loaded" not in result.learner_output


def test_a_lone_surrogate_in_a_failure_message_keeps_the_grade(
    publish_files: PublishFiles,
    grade_url: Callable[..., GradingResult],
    ledger_in_mode: LoadedAssignment,
    no_leftovers: None,
) -> None:
    files = solution_files(LEDGER_DIR, "partial")
    book = files["ledger/book.py"]
    needle = 'raise InvalidAmountError(f"amount must be a Decimal, not'
    assert needle in book
    # The source holds the escape; the message the test fails with holds the lone surrogate itself.
    files["ledger/book.py"] = book.replace(needle, 'raise InvalidAmountError(f"amount \\ud800 must be a Decimal, not')
    result = grade_url(publish_files(files), ledger_in_mode)
    grade = result.grade
    codes = {f.code for f in grade.flags}
    assert "harness-incomplete" not in codes and not grade.tampered, grade.flags
    assert (grade.score, grade.passed) == (86.99, True), (grade.reason, grade.flags)
    failed = next(t for t in grade.tests if t.id == "test_core_hidden.py::test_int_amounts_accepted")
    assert "\ud800" not in failed.message and "amount ? must be a Decimal" in failed.message, failed.message
