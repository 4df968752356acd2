"""Unit mode: the author's pytest suites import the learner's code inside one hardened container."""

from __future__ import annotations

import secrets
from pathlib import Path

from grader.config import Settings
from grader.judge import RunFacts
from grader.run_report import parse_harness_stream
from grader.sandbox import SUBMISSION_DIR, TESTS_ROOT, choose_runtime, run_container, unit_mounts
from grader.spec import LoadedAssignment

CANARY_COUNT = 3
# Room for the harness's own events on top of the learner's capped output.
PROTOCOL_HEADROOM = 2 * 1024 * 1024


def canary_names(count: int = CANARY_COUNT) -> list[str]:
    """Names that look like ordinary tests, so learner code cannot single them out."""
    words = ["total", "balance", "entry", "post", "report", "account", "ledger", "value", "check", "sum"]
    return [f"test_{secrets.choice(words)}_{secrets.choice(words)}_{secrets.token_hex(3)}" for _ in range(count)]


def run_unit(assignment: LoadedAssignment, image: str, snapshot: Path, commit: str, settings: Settings) -> RunFacts:
    limits = assignment.spec.limits
    token = secrets.token_urlsafe(24)
    canaries = canary_names()
    suites = assignment.suite_dirs()
    output_limit = limits.output_kb * 1024
    payload = {
        "token": token,
        "canaries": canaries,
        "suites": {suite: f"{TESTS_ROOT}/{suite}" for suite in suites},
        "tests_root": TESTS_ROOT,
        "submission": SUBMISSION_DIR,
        "timeout_s": limits.timeout_s,
        "output_limit": output_limit,
    }
    container = run_container(
        image,
        limits,
        settings,
        stdin_payload=payload,
        mounts=unit_mounts(suites, snapshot),
        runtime=choose_runtime(settings),
        output_limit=output_limit + PROTOCOL_HEADROOM,
    )
    report = parse_harness_stream(container.output, token)
    return RunFacts(report=report, container=container, canaries=canaries, commit=commit, mode="unit")
