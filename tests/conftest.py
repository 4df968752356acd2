"""Shared fixtures. Integration fixtures use the real thing: Docker engine, git over HTTP on loopback."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import shutil
import subprocess
import textwrap
import uuid
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest
import yaml

from grader.config import Settings
from grader.core.result import GradingResult
from grader.core.spec import LoadedAssignment, load_assignment
from grader.demo.gitserver import LoopbackGitServer
from grader.grading.pipeline import grade_repository

# This session's sandboxes carry their own owner label (inherited by the CLI processes tests start), so
# the leftover checks ignore containers of any other grader using the same Docker engine.
os.environ.setdefault("GRADER_SANDBOX_OWNER", f"tests-{uuid.uuid4().hex[:12]}")

ROOT = Path(__file__).resolve().parent.parent
INTEROP = ROOT / "tests" / "interop"
LEDGER_DIR = ROOT / "assignments" / "py-ledger"
LEDGER_SOLUTIONS = LEDGER_DIR / "solutions"
NOTES_DIR = ROOT / "assignments" / "py-notes-api"

PublishFiles = Callable[[dict[str, str]], str]

# tests/data holds assignments (with their authors' own test suites) that the tests grade: not ours to collect.
collect_ignore = ["data"]

# One Playwright and one Chromium for the whole session (tests/browser_fixtures.py says why).
pytest_plugins = ["tests.browser_fixtures"]


def run_in_fresh_thread(function: Callable[..., Any], *args: Any) -> Any:
    """`anyio.run(function, *args)` on a thread of its own: the session's Playwright (sync API) keeps an
    event loop marked running in the main thread, where anyio refuses to start another. Re-raises what
    the function raised."""
    import anyio

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(anyio.run, function, *args).result()


@pytest.fixture(scope="session")
def ledger() -> LoadedAssignment:
    return load_assignment(LEDGER_DIR)


@pytest.fixture(scope="session")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackGitServer]:
    with LoopbackGitServer(tmp_path_factory.mktemp("git-server")) as server:
        yield server


@pytest.fixture(scope="session")
def grading_settings(git_server: LoopbackGitServer, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        home=tmp_path_factory.mktemp("grader-home"),
        allowed_hosts=[git_server.host],
        allowed_schemes=["http", "https"],
        fetch_timeout_s=20,
    )


_names = count()


@pytest.fixture(scope="session")
def publish_files(git_server: LoopbackGitServer, tmp_path_factory: pytest.TempPathFactory) -> PublishFiles:
    """Turn {path: text} into a learner repository served over HTTP; returns its URL."""

    def publish(files: dict[str, str]) -> str:
        source = tmp_path_factory.mktemp("learner-src")
        for rel, text in files.items():
            target = source / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text))
        return git_server.publish(f"learner-{next(_names)}", source)

    return publish


@pytest.fixture(scope="session")
def publish_solution(git_server: LoopbackGitServer) -> Callable[[str], str]:
    def publish(name: str) -> str:
        return git_server.publish(f"solution-{name}-{next(_names)}", LEDGER_SOLUTIONS / name)

    return publish


def solution_files(assignment_dir: Path, name: str, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """A bundled solution as {path: text}, with some files replaced or added (dedented)."""
    root = assignment_dir / "solutions" / name
    files = {
        p.relative_to(root).as_posix(): p.read_text()
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    files.update({k: textwrap.dedent(v) for k, v in (overrides or {}).items()})
    return files


def reference_files_with(overrides: dict[str, str]) -> dict[str, str]:
    """The reference ledger solution with some files replaced or added (for hostile variants)."""
    return solution_files(LEDGER_DIR, "reference", overrides)


def copy_with_spec(source: Path, target: Path, edit: Callable[[dict[str, Any]], None]) -> LoadedAssignment:
    """A copy of an assignment (without its solutions) whose spec `edit` changed, e.g. shorter limits."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("solutions", "__pycache__"))
    spec = yaml.safe_load((target / "assignment.yaml").read_text())
    edit(spec)
    (target / "assignment.yaml").write_text(yaml.safe_dump(spec))
    return load_assignment(target)


@pytest.fixture(scope="session")
def grade_url(grading_settings: Settings, ledger: LoadedAssignment) -> Callable[..., GradingResult]:
    def run(url: str, assignment: LoadedAssignment | None = None, **kwargs: object) -> GradingResult:
        return grade_repository(url, assignment or ledger, grading_settings, **kwargs)  # type: ignore[arg-type]

    return run


@pytest.fixture
def no_leftovers() -> Iterator[None]:
    """After the test: no sandbox container remains."""
    from grader.sandbox.containers import leftover_containers

    yield
    assert leftover_containers() == []


INTEROP_INSTALLED = ("package.json", "package-lock.json", "verify.mjs")


def _install_dir() -> Path:
    """Where the JS verifier and its node_modules live: outside the checkout, one folder per lock."""
    digest = hashlib.sha256()
    for name in INTEROP_INSTALLED:
        digest.update((INTEROP / name).read_bytes())
    base = Path(os.environ.get("GRADER_INTEROP_CACHE") or Path.home() / ".cache" / "capstone-grader")
    return base / f"interop-{digest.hexdigest()[:16]}"


@pytest.fixture(scope="session")
def node_verifier() -> Path:
    """The independent verifier, installed with `npm ci` outside the tracked tree on first use."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed for the interop verifier (scripts/bootstrap.sh installs them)"
    target = _install_dir()
    if not (target / "node_modules" / "@digitalbazaar" / "vc").is_dir():
        staging = target.with_name(target.name + f".tmp{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name in INTEROP_INSTALLED:
            shutil.copy2(INTEROP / name, staging / name)
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=staging, check=True, capture_output=True, timeout=600
        )
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    os.environ["CREDENTIAL_CONTEXT_DIR"] = str(ROOT / "credentials" / "contexts")
    return target / "verify.mjs"


def js_verify(verifier: Path, tmp_path: Path, credentials: list[dict[str, Any]], *extra: str) -> list[dict[str, Any]]:
    """Run the JS verifier over credentials; returns its [{file, verified, errors}] report."""
    files = []
    for index, credential in enumerate(credentials):
        path = tmp_path / f"credential-{index}.json"
        path.write_text(json.dumps(credential, ensure_ascii=False), encoding="utf-8")
        files.append(str(path))
    result = subprocess.run(["node", str(verifier), *extra, *files], capture_output=True, text=True, timeout=300)
    assert result.returncode in (0, 1), result.stderr
    outcome: list[dict[str, Any]] = json.loads(result.stdout)
    return outcome


def sandbox_owner_env() -> dict[str, str]:
    """For CLI processes started with a minimal environment: keep this session's sandbox owner label."""
    return {"GRADER_SANDBOX_OWNER": os.environ["GRADER_SANDBOX_OWNER"]}
