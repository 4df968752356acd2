"""The issuance rule end to end: `grader grade` issues a credential only for a pass, and that credential
verifies with `grader credential verify` and with an independent verifier, until it is revoked."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from grader.demo.gitserver import LoopbackGitServer
from tests.conftest import LEDGER_DIR, js_verify, sandbox_owner_env

pytestmark = pytest.mark.integration


def cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "GRADER_HOME": str(home),
        "HOME": str(home),
        "COLUMNS": "200",
        **sandbox_owner_env(),
    }
    return subprocess.run(
        [sys.executable, "-m", "grader", *args], capture_output=True, text=True, env=env, timeout=300
    )


def grade_json(url: str, server: LoopbackGitServer, home: Path) -> dict[str, Any]:
    run = cli(
        "grade",
        url,
        "--assignment",
        str(LEDGER_DIR),
        "--json",
        "--learner",
        "ada@example.org",
        "--allow-host",
        server.host,
        "--allow-scheme",
        "http",
        home=home,
    )
    assert run.returncode == 0, run.stderr
    report: dict[str, Any] = json.loads(run.stdout)
    return report


@pytest.fixture(scope="module")
def issuer_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("issuer-home")


@pytest.fixture(scope="module")
def reference_grade(publish_solution, git_server: LoopbackGitServer, issuer_home: Path) -> dict[str, Any]:
    return grade_json(publish_solution("reference"), git_server, issuer_home)


def write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document))
    return path


def test_passing_grade_carries_a_credential_pinned_to_the_commit(reference_grade: dict[str, Any]) -> None:
    credential = reference_grade["credential"]
    assert reference_grade["passed"] is True and credential is not None
    evidence = credential["evidence"][0]
    assert evidence["id"] == f"{reference_grade['repository']}#commit={reference_grade['commit']}"
    narrative = evidence["narrative"]
    for fact in (reference_grade["assignment"]["hash"], reference_grade["evidence"]["image_id"], "unit mode", "1.0.0"):
        assert fact in narrative
    assert "ada@example.org" not in json.dumps(credential)  # the learner is a salted hash


def test_credential_verifies_with_the_cli(reference_grade: dict[str, Any], issuer_home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "credential.json", reference_grade["credential"])
    status_list = issuer_home / "status" / "local-status-list.json"
    run = cli(
        "credential", "verify", str(path), "--status-list", str(status_list), "--require-evidence", home=issuer_home
    )
    assert run.returncode == 0, run.stdout
    assert "VALID" in run.stdout


def test_credential_verifies_with_an_independent_implementation(
    reference_grade: dict[str, Any], node_verifier: Path, tmp_path: Path
) -> None:
    credential = reference_grade["credential"]
    tampered = copy.deepcopy(credential)
    tampered["evidence"][0]["id"] = tampered["evidence"][0]["id"].replace("#commit=", "#commit=0")
    outcome = js_verify(node_verifier, tmp_path, [credential, tampered])
    assert [o["verified"] for o in outcome] == [True, False]


def test_baked_badge_carries_the_same_credential(
    reference_grade: dict[str, Any], issuer_home: Path, tmp_path: Path
) -> None:
    source = write(tmp_path / "credential.json", reference_grade["credential"])
    badge = tmp_path / "badge.png"
    assert cli("credential", "bake", str(source), "--out", str(badge), home=issuer_home).returncode == 0
    assert badge.read_bytes().startswith(b"\x89PNG")
    unbaked = cli("credential", "unbake", str(badge), home=issuer_home)
    assert unbaked.returncode == 0
    assert json.loads(unbaked.stdout) == reference_grade["credential"]
    assert cli("credential", "verify", str(badge), home=issuer_home).returncode == 0


def test_failing_grade_never_gets_a_credential(
    publish_solution, git_server: LoopbackGitServer, issuer_home: Path
) -> None:
    report = grade_json(publish_solution("failing"), git_server, issuer_home)
    assert report["passed"] is False and report["credential"] is None


def test_revoked_credential_is_rejected_with_the_reason_status(
    publish_solution, git_server: LoopbackGitServer, issuer_home: Path, tmp_path: Path
) -> None:
    credential = grade_json(publish_solution("partial"), git_server, issuer_home)["credential"]
    path = write(tmp_path / "credential.json", credential)
    status_list = issuer_home / "status" / "local-status-list.json"
    revoke = cli("credential", "revoke", credential["id"], "--reason", "plagiarism found on review", home=issuer_home)
    assert revoke.returncode == 0, revoke.stderr
    run = cli("credential", "verify", str(path), "--status-list", str(status_list), "--json", home=issuer_home)
    assert run.returncode == 1
    checks = {c["name"]: c for c in json.loads(run.stdout)["checks"]}
    assert checks["status"]["outcome"] == "failed" and "revoked" in checks["status"]["reason"]
    assert checks["proof"]["outcome"] == "passed"
    unknown = cli(
        "credential", "revoke", "urn:uuid:00000000-0000-0000-0000-000000000000", "--reason", "x", home=issuer_home
    )
    assert unknown.returncode == 2
