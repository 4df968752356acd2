"""In-process unit mode (`mode: unit-inprocess`): the author's suites import the learner's code inside one
hardened container. Learner code shares the interpreter with the tests, so this mode is never a proof
and never issues a credential; isolated unit mode (isolated_mode.py) is the sound one.

The suites reach the container in two ways. A read-only staging copy is mounted (conftest files, data
files and the visible test modules as they are), but every test module's source travels in the
harness's stdin payload, and the hidden suite's test modules are empty placeholders on disk: the
harness compiles the tests from the payload, so no process in the container can read a hidden test
module from a file.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from grader.config import Settings
from grader.core.errors import AuthorFault
from grader.core.grade import Flag
from grader.core.judge import Canary, RunFacts
from grader.core.run_report import parse_harness_stream
from grader.core.spec import LoadedAssignment
from grader.core.testids import is_test_file
from grader.sandbox.containers import choose_runtime, run_container, unit_mounts
from grader.sandbox.workspaces import new_workspace
from grader_harness.protocol import ATTRIBUTED_BUDGET, SUBMISSION_DIR, TESTS_ROOT

CANARY_COUNT = 3
# Room for the harness's own events on top of the learner's capped output, which the harness sends as
# UTF-8 JSON: a byte of it becomes at most 3 (an invalid byte becomes U+FFFD).
OUTPUT_EXPANSION = 3
# What each test printed travels once more, in that test's "output" event: at most this many bytes in all
# (the harness's ATTRIBUTED_BUDGET), expanded likewise.
ATTRIBUTED_OUTPUT = ATTRIBUTED_BUDGET
# Events, up to 1 M characters of failure messages, and the output attributed to tests.
PROTOCOL_HEADROOM = 8 * 1024 * 1024 + OUTPUT_EXPANSION * ATTRIBUTED_OUTPUT
MAX_SOURCES_BYTES = 8 * 1024 * 1024
SHADOWED_TOOLS = {"pytest", "_pytest", "pluggy", "py", "iniconfig"}
CONFIG_FILES = {"pytest.ini", ".pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml", "conftest.py"}


class StagedSuites(BaseModel):
    """Where the staged suites are on the host, and the test modules' sources for the payload."""

    dirs: dict[str, Path]
    sources: dict[str, dict[str, str]]


def stage_suites(assignment: LoadedAssignment, dest: Path) -> StagedSuites:
    """Copy each suite under `dest`; hidden test modules become empty placeholders there."""
    sources: dict[str, dict[str, str]] = {}
    dirs: dict[str, Path] = {}
    total = 0
    for suite, source_dir in assignment.suite_dirs().items():
        target = dest / suite
        shutil.copytree(source_dir, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        dirs[suite] = target
        sources[suite] = {}
        for path in sorted(source_dir.rglob("*.py")):
            if "__pycache__" in path.parts or not is_test_file(path):
                continue
            rel = path.relative_to(source_dir).as_posix()
            text = path.read_text(encoding="utf-8")
            total += len(text)
            sources[suite][rel] = text
            if suite == "hidden":
                (target / rel).write_text("")
    if total > MAX_SOURCES_BYTES:
        raise AuthorFault(
            f"the test modules add up to {total} bytes; the harness accepts {MAX_SOURCES_BYTES}", field="tests"
        )
    for path in [dest, *dest.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return StagedSuites(dirs=dirs, sources=sources)


@contextlib.contextmanager
def staged(assignment: LoadedAssignment, settings: Settings) -> Iterator[StagedSuites]:
    root = new_workspace(settings, "suites")
    try:
        yield stage_suites(assignment, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _words(names: list[str]) -> list[str]:
    words = [w for n in names for w in n.removeprefix("test_").split("_") if w.isalpha() and len(w) > 2]
    return words or ["value", "total", "check", "result", "entry", "update"]


def plant_canaries(assignment: LoadedAssignment, count: int = CANARY_COUNT) -> list[Canary]:
    """Must-fail tests named like their module's own tests, in hidden modules when there are any.

    A learner knows the visible tests' names, so canaries among them could be told apart; among the
    hidden tests they look like any other test the learner has never seen.
    """
    suite = "hidden" if assignment.test_ids.get("hidden") else "visible"
    ids = assignment.test_ids[suite]
    modules = sorted({i.split("::")[0] for i in ids})
    taken = {i.rpartition("::")[2] for i in assignment.all_test_ids()}
    canaries: list[Canary] = []
    while len(canaries) < count:
        module = secrets.choice(modules)
        words = _words([i.rpartition("::")[2] for i in ids if i.startswith(module + "::")])
        name = "test_" + "_".join(secrets.choice(words) for _ in range(3))
        if name in taken:
            name += f"_{secrets.choice(words)}"
        if name in taken:
            continue
        taken.add(name)
        left, right = secrets.randbelow(900) + 100, secrets.randbelow(900) + 100
        canaries.append(
            Canary(
                suite=suite,
                file=module,
                name=name,
                left=left,
                right=right,
                total=left + right + 1 + secrets.randbelow(9),
            )
        )
    return canaries


def _has_pytest_section(path: Path) -> bool:
    if path.stat().st_size > 256 * 1024:
        return True
    text = path.read_text(encoding="utf-8", errors="replace")
    return bool(re.search(r"^\s*\[(tool:pytest|pytest|tool\.pytest[^\]]*)\]", text, re.MULTILINE))


def snapshot_notices(snapshot: Path) -> list[Flag]:
    """What in the learner's tree the harness ignores on purpose, named so the learner (and a reviewer) sees it.

    These are notices, not tripwires: a learner's own conftest.py or pytest.ini is normal in a real
    project. The harness never loads them, so they cannot change a result.
    """
    config: list[str] = []
    plugins: list[str] = []
    for path in sorted(p for p in snapshot.rglob("*") if p.is_file()):
        rel = path.relative_to(snapshot).as_posix()
        if path.name in CONFIG_FILES and (
            path.name in ("conftest.py", "pytest.ini", ".pytest.ini") or _has_pytest_section(path)
        ):
            config.append(rel)
        elif (
            path.suffix == ".pth"
            or path.stem in ("sitecustomize", "usercustomize")
            or (path.name == "entry_points.txt" and "pytest11" in path.read_text(errors="replace"))
        ):
            plugins.append(rel)
    shadows = sorted(
        p.name
        for p in snapshot.iterdir()
        if (p.is_dir() or p.suffix == ".py")
        and (p.name.removesuffix(".py") in SHADOWED_TOOLS or p.name.removesuffix(".py") in sys.stdlib_module_names)
    )
    flags = []
    if config:
        flags.append(
            Flag(
                code="learner-config-ignored",
                tripwire=False,
                detail="only the author's configuration is used; ignored: " + ", ".join(config[:10]),
            )
        )
    if plugins:
        flags.append(
            Flag(code="learner-plugins-ignored", tripwire=False, detail="never loaded: " + ", ".join(plugins[:10]))
        )
    if shadows:
        flags.append(
            Flag(
                code="shadowing-modules-ignored",
                tripwire=False,
                detail="these share a name with the standard library or pytest; the real ones are used: "
                + ", ".join(shadows[:10]),
            )
        )
    return flags


def build_payload(
    assignment: LoadedAssignment,
    staged_suites: StagedSuites,
    token: str,
    canaries: list[Canary],
    *,
    submission: str | None,
    output_limit: int,
) -> dict[str, object]:
    return {
        "token": token,
        "canaries": [c.model_dump(mode="json") for c in canaries],
        "suites": {suite: f"{TESTS_ROOT}/{suite}" for suite in staged_suites.dirs},
        "sources": staged_suites.sources,
        "tests_root": TESTS_ROOT,
        "submission": submission,
        "timeout_s": assignment.spec.limits.timeout_s,
        "test_timeout_s": assignment.spec.limits.test_timeout_s,
        "output_limit": output_limit,
    }


def run_inprocess(assignment: LoadedAssignment, image: str, snapshot: Path, commit: str, settings: Settings) -> RunFacts:
    limits = assignment.spec.limits
    runtime = choose_runtime(settings)
    token = secrets.token_urlsafe(24)
    canaries = plant_canaries(assignment)
    output_limit = limits.output_kb * 1024
    with staged(assignment, settings) as suites:
        payload = build_payload(
            assignment, suites, token, canaries, submission=SUBMISSION_DIR, output_limit=output_limit
        )
        container = run_container(
            image,
            limits,
            settings,
            stdin_payload=payload,
            mounts=unit_mounts(suites.dirs, snapshot),
            runtime=runtime,
            output_limit=OUTPUT_EXPANSION * output_limit + PROTOCOL_HEADROOM,
        )
    # No check_not_interrupted here: learner code shares this container and may kill the harness itself
    # (the judge flags that as `sandbox-killed`); a lost engine is still caught by run_container's wait.
    report = parse_harness_stream(container.output, token)
    return RunFacts(
        report=report,
        container=container,
        canaries=canaries,
        commit=commit,
        mode="unit-inprocess",
        notices=snapshot_notices(snapshot),
    )
