"""`grader assignment check` against the real sandbox, and the test manifest it fixes: an author's mistake
is caught before any learner meets it, and nothing a learner does can shrink the denominator."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grader.core.manifest import MANIFEST_FILE
from grader.core.spec import SpecError, load_assignment
from tests.conftest import LEDGER_DIR, NOTES_DIR, ROOT, solution_files

pytestmark = pytest.mark.integration


def check(path: Path, home: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"GRADER_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "grader", "assignment", "check", str(path), *extra],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=900, check=False,
    )


@pytest.mark.parametrize("folder", [LEDGER_DIR, NOTES_DIR], ids=["py-ledger", "py-notes-api"])
def test_every_example_assignment_passes_its_check(folder: Path, tmp_path: Path) -> None:
    done = check(folder, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every solution grades as written down" in done.stdout
    for name in yaml.safe_load((folder / "solutions" / "expected.yaml").read_text()):
        assert name in done.stdout


def broken_copy(tmp_path: Path) -> Path:
    target = tmp_path / "py-ledger"
    shutil.copytree(LEDGER_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_a_mis_scored_known_bad_solution_fails_the_check_with_a_table(tmp_path: Path) -> None:
    copy = broken_copy(tmp_path)
    expected = yaml.safe_load((copy / "solutions" / "expected.yaml").read_text())
    expected["failing"]["score"] = 35.0
    expected["partial"]["passed"] = False
    (copy / "solutions" / "expected.yaml").write_text(yaml.safe_dump(expected))
    done = check(copy, tmp_path / "home")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "score 29.01, expected 35" in done.stdout
    assert "passed True, expected False" in done.stdout
    assert "│ reference" in done.stdout and "ok" in done.stdout


def test_a_broken_hidden_suite_is_refused(tmp_path: Path) -> None:
    """A hidden test file importing a module that does not exist: validate cannot see it, the check does."""
    copy = broken_copy(tmp_path)
    hidden = copy / "tests" / "hidden" / "test_history_hidden.py"
    hidden.write_text("import ledger_helpers_that_do_not_exist\n" + hidden.read_text())
    (copy / MANIFEST_FILE).unlink()
    done = check(copy, tmp_path / "home")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "failed to collect against the reference: ['test_history_hidden.py']" in done.stdout
    assert "the reference scores" in done.stdout


def test_a_stale_manifest_is_a_spec_error_naming_it(tmp_path: Path) -> None:
    copy = broken_copy(tmp_path)
    manifest = json.loads((copy / MANIFEST_FILE).read_text())
    manifest["tests"]["hidden"].append("test_core_hidden.py::test_that_does_not_exist")
    (copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(SpecError) as caught:
        load_assignment(copy)
    [issue] = caught.value.issues
    assert issue.file.endswith(MANIFEST_FILE) and "out of date" in issue.message


def test_the_manifest_is_part_of_the_version_hash(tmp_path: Path) -> None:
    copy = broken_copy(tmp_path)
    before = load_assignment(copy).spec_hash
    manifest = json.loads((copy / MANIFEST_FILE).read_text())
    manifest["tests"]["visible"] = sorted(manifest["tests"]["visible"], reverse=True)
    (copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    assert load_assignment(copy).spec_hash != before


def test_a_learner_who_does_less_scores_no_more(publish_files, grade_url, no_leftovers) -> None:
    """Leaving out `Side`, which a hidden file imports, makes that file fail to collect: with the manifest
    each of its parameter sets still counts, as failed, so the score can only go down."""
    honest = grade_url(publish_files(solution_files(LEDGER_DIR, "failing")))
    files = solution_files(LEDGER_DIR, "failing")
    init = files["ledger/__init__.py"]
    files["ledger/__init__.py"] = init.replace("    Side,\n", "").replace('    "Side",\n', "")
    assert files["ledger/__init__.py"] != init
    less = grade_url(publish_files(files))
    assert less.grade.score <= honest.grade.score == 29.01
    assert len(less.grade.tests) == len(honest.grade.tests) == 47
    uncollected = [t for t in less.grade.tests if t.message.startswith("could not be collected")]
    assert uncollected and all(t.id.startswith("test_core_hidden.py::") for t in uncollected)
    assert sum("[" in t.id for t in uncollected) >= 5  # every parameter set of the parametrized test


def test_a_new_skeleton_passes_its_check_at_once(tmp_path: Path) -> None:
    env = os.environ | {"GRADER_HOME": str(tmp_path / "home")}
    made = subprocess.run([sys.executable, "-m", "grader", "assignment", "new", "py-words", "--dir", str(tmp_path / "a")],
                          capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    assert made.returncode == 0, made.stderr
    done = check(tmp_path / "a", tmp_path / "home", "--write-manifest")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "a" / MANIFEST_FILE).is_file()
    again = check(tmp_path / "a", tmp_path / "home")  # with its manifest now: current, still passing
    assert again.returncode == 0, again.stdout + again.stderr
    refused = subprocess.run([sys.executable, "-m", "grader", "assignment", "new", "Not An Id"],
                             capture_output=True, text=True, env=env, cwd=tmp_path, check=False)
    assert refused.returncode == 2 and "is not an assignment id" in refused.stderr
