"""Grading end to end through real git over HTTP, the Docker sandbox and the judge, via the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grader.demo.gitserver import LoopbackGitServer
from grader.demo.local import expected_mismatches
from tests.conftest import LEDGER_DIR, LEDGER_SOLUTIONS, sandbox_owner_env

pytestmark = pytest.mark.integration
EXPECTED = yaml.safe_load((LEDGER_SOLUTIONS / "expected.yaml").read_text())


def grader_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "GRADER_HOME": str(home), "HOME": str(home), **sandbox_owner_env()}
    return subprocess.run(
        [sys.executable, "-m", "grader", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_reference_grades_100_via_cli_json(
    publish_solution, git_server: LoopbackGitServer, tmp_path: Path, no_leftovers
) -> None:
    url = publish_solution("reference")
    run = grader_cli(
        "grade",
        url,
        "--assignment",
        str(LEDGER_DIR),
        "--json",
        "--no-credential",
        "--allow-host",
        git_server.host,
        "--allow-scheme",
        "http",
        home=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["passed"] is True
    assert (report["score"], report["max_score"], report["percent"]) == (100.0, 100.0, 100.0)
    assert len(report["commit"]) == 40
    assert report["assignment"]["id"] == "py-ledger" and report["assignment"]["hash"].startswith("sha256:")
    assert {c["id"]: c["level"] for c in report["criteria"]} == {
        "core": "Exemplary",
        "validation": "Exemplary",
        "history": "Exemplary",
        "reports": "Exemplary",
    }
    assert all(set(c) >= {"id", "points", "max", "level"} for c in report["criteria"])
    assert all(t["outcome"] == "passed" and t["criterion"] for t in report["tests"])
    assert report["flags"] == []
    assert set(report["timings"]) >= {"fetch", "build", "run", "judge"}
    assert report["evidence"]["commit"] == report["commit"]


@pytest.mark.parametrize("name", ["reference", "partial", "failing"])
def test_bundled_solutions_score_exactly_as_written_down(name: str, publish_solution, grade_url, no_leftovers) -> None:
    result = grade_url(publish_solution(name))
    assert expected_mismatches(result.grade, EXPECTED[name]) == []
    assert result.grade.flags == []


def test_failing_grade_exits_zero_and_writes_feedback(
    publish_solution, git_server: LoopbackGitServer, tmp_path: Path, no_leftovers
) -> None:
    out = tmp_path / "feedback"
    run = grader_cli(
        "grade",
        publish_solution("failing"),
        "--assignment",
        str(LEDGER_DIR),
        "--feedback-dir",
        str(out),
        "--allow-host",
        git_server.host,
        "--allow-scheme",
        "http",
        home=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert "NOT PASSED" in run.stdout
    # The learner's folder and the author's are apart (README "Output files").
    assert sorted(p.name for p in (out / "feedback").iterdir()) == ["feedback.html", "feedback.md"]
    markdown = (out / "feedback" / "feedback.md").read_text()
    assert "Accounts, posting and balances (required) is at" in markdown and "needs for Proficient" in markdown
    # Hidden tests are summarised only (the spec says hidden_tests: summary).
    assert "test_core_hidden.py" not in markdown
    assert json.loads((out / "author" / "results.json").read_text())["score"] == EXPECTED["failing"]["score"]
    assert (out / "author" / "junit.xml").read_text().startswith("<?xml")
    assert "test_core_hidden.py" in (out / "author" / "grade.json").read_text()
    assert not (out / "feedback" / "credential.json").exists()


def test_grade_is_pinned_to_the_commit_not_the_branch(
    git_server: LoopbackGitServer, publish_files, grade_url, no_leftovers
) -> None:
    url = git_server.publish("pinned", LEDGER_SOLUTIONS / "partial")
    first = grade_url(url)
    commit = subprocess.run(
        ["git", "--git-dir", str(git_server.root / "pinned.git"), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert first.grade.commit == commit == first.evidence.commit
    by_sha = grade_url(url, ref=commit)
    assert by_sha.grade.commit == commit and by_sha.grade.score == first.grade.score


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("ext::sh -c touch% /tmp/pwned", "transport-helper"),
        ("file:///etc", "local-path"),
        ("/srv/repos/learner", "local-path"),
        ("-u/tmp/x", "option-injection"),
        ("--upload-pack=touch /tmp/pwned", "option-injection"),
        ("https://user:secret@github.com/a/b.git", "userinfo"),
        ("https://evil.example.com/a/b.git", "host-not-allowed"),
        ("https://10.0.0.1/a/b.git", "host-not-allowed"),
        ("http://github.com/a/b.git", "scheme"),
        ("https://github.com/a/../b.git", "path"),
    ],
)
def test_refused_urls_exit_2_with_the_rule(url: str, rule: str, tmp_path: Path) -> None:
    # `--` so that URLs starting with '-' reach the grader rather than the option parser.
    run = grader_cli("grade", "--assignment", str(LEDGER_DIR), "--", url, home=tmp_path)
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"refused by rule '{rule}'" in " ".join(run.stderr.split())


def test_unreachable_repo_is_bad_input(git_server: LoopbackGitServer, tmp_path: Path) -> None:
    run = grader_cli(
        "grade",
        f"http://{git_server.host}/no-such-repo.git",
        "--assignment",
        str(LEDGER_DIR),
        "--allow-host",
        git_server.host,
        "--allow-scheme",
        "http",
        home=tmp_path,
    )
    assert run.returncode == 2
    assert "fetch failed" in run.stderr


def test_malformed_spec_exits_2_naming_file_and_field(tmp_path: Path) -> None:
    spec = tmp_path / "bad" / "assignment.yaml"
    spec.parent.mkdir()
    spec.write_text((LEDGER_DIR / "assignment.yaml").read_text().replace("memory_mb: 256", "memory_mb: lots"))
    run = grader_cli("grade", "https://github.com/a/b.git", "--assignment", str(spec.parent), home=tmp_path)
    assert run.returncode == 2
    assert f"{spec}: limits.memory_mb:" in " ".join(run.stderr.split())


def test_assignment_validate_exit_codes(tmp_path: Path) -> None:
    good = grader_cli("assignment", "validate", str(LEDGER_DIR), home=tmp_path)
    assert good.returncode == 0 and "valid" in good.stdout
    (tmp_path / "assignment.yaml").write_text("id: Not A Slug\n")
    bad = grader_cli("assignment", "validate", str(tmp_path), home=tmp_path)
    assert bad.returncode == 1
    assert "error(s)" in bad.stdout and "id:" in bad.stdout
