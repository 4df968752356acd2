"""Isolated unit mode (`mode: unit`): the learner's package and the author's tests in two containers.

    ┌──────────────────────────────┐  frames   ┌────────┐  frames   ┌──────────────────────────────────┐
    │ learner container            │ <-------> │ worker │ <-------> │ tester container                  │
    │ snapshot (read-only)         │  stdio    │ relay  │  stdio    │ harness + pytest + author's suites│
    │ agent.py: serves its modules │           └────────┘           │ learner modules are proxies       │
    └──────────────────────────────┘                |               └──────────────────────────────────┘
                                                    results (tester's stdout only)

Learner code never enters the tester: the suites import the learner's modules through proxies
(grader_harness/bridge/client.py) whose every operation is a request the learner's container answers
by value (grader_harness/bridge/agent.py). The verdict is decided in the tester and leaves over its own
stdout; the learner's container sees only the requests made of its code. Both containers get every
restriction of the sandbox (no network at all, gVisor where offered) and are removed afterwards.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from docker.models.containers import Container
from docker.types import Mount

from grader.config import Settings
from grader.core.judge import LearnerFacts, RunFacts
from grader.core.run_report import ContainerRun, parse_harness_stream
from grader.core.spec import Isolation, LoadedAssignment
from grader.sandbox.bridge_relay import LearnerRecord, Relay, create_container
from grader.sandbox.containers import (
    check_not_interrupted,
    choose_runtime,
    container_guard,
    hardened_options,
    new_run_name,
    remove_by_name,
    tests_mounts,
    wait_for_exit,
)
from grader.sandbox.unit_mode import (
    OUTPUT_EXPANSION,
    PROTOCOL_HEADROOM,
    SHADOWED_TOOLS,
    build_payload,
    plant_canaries,
    snapshot_notices,
    staged,
)
from grader_harness.protocol import AGENT_COMMAND, SUBMISSION_DIR

AGENT = list(AGENT_COMMAND)
# The learner's frames carry values by value: room for them beyond its printed output.
LEARNER_PROTOCOL_BUDGET = 16 * 1024 * 1024


def learner_modules(snapshot: Path) -> list[str]:
    """Top-level module names the learner's snapshot provides (files and package folders at its root).

    Only these are imported through the bridge; every other import of the tests is the tester's own.
    """
    names = set()
    for entry in snapshot.iterdir():
        name = entry.name.removesuffix(".py") if entry.is_file() and entry.suffix == ".py" else entry.name
        if not name.isidentifier() or name in SHADOWED_TOOLS or name.startswith("."):
            continue
        if entry.is_file() or (entry.is_dir() and any(entry.rglob("*.py"))):
            names.add(name)
    return sorted(names)


def learner_options(assignment: LoadedAssignment, runtime: str, name: str, snapshot: Path) -> dict[str, Any]:
    limits = assignment.spec.limits
    return hardened_options(limits, runtime, name) | {
        "mounts": [Mount(target=SUBMISSION_DIR, source=str(snapshot), type="bind", read_only=True)],
        "entrypoint": AGENT,
    }


def bridge_config(assignment: LoadedAssignment, snapshot: Path) -> dict[str, Any]:
    spec = assignment.spec
    return {
        "modules": learner_modules(snapshot),
        "call_timeout_s": spec.limits.call_timeout_s,
        "per_test": spec.isolation is Isolation.PER_TEST,
    }


def run_isolated(
    assignment: LoadedAssignment, image: str, snapshot: Path, commit: str, settings: Settings
) -> RunFacts:
    """Run the author's suites in a tester container against the learner's package in its own container.

    Raises SandboxUnavailable when the runtime policy cannot be met, and the Docker SDK's errors for
    faults of the engine.
    """
    spec = assignment.spec
    limits = spec.limits
    runtime = choose_runtime(settings)
    token = secrets.token_urlsafe(24)
    canaries = plant_canaries(assignment)
    output_limit = limits.output_kb * 1024
    tester_limit = OUTPUT_EXPANSION * output_limit + PROTOCOL_HEADROOM

    def start_learner(generation: int) -> tuple[str, Container]:
        name = new_run_name("grader-learner")
        return name, create_container(image, learner_options(assignment, runtime, name, snapshot))

    relay = Relay(
        start_learner, token, learner_budget=OUTPUT_EXPANSION * output_limit + LEARNER_PROTOCOL_BUDGET,
        tester_limit=tester_limit,
    )
    tester_name = new_run_name()
    with staged(assignment, settings) as suites, container_guard(tester_name):
        payload = build_payload(assignment, suites, token, canaries, submission=None, output_limit=output_limit)
        payload["bridge"] = bridge_config(assignment, snapshot)
        try:
            with ThreadPoolExecutor(max_workers=1) as pool:  # both containers start at once
                learner_started = pool.submit(relay.launch_learner)
                options = hardened_options(limits, runtime, tester_name) | {"mounts": tests_mounts(suites.dirs)}
                tester = create_container(image, options)
                stream = relay.attach_tester(tester)
                tester.start()
                learner_started.result()
            started = time.monotonic()
            stream.send((json.dumps(payload) + "\n").encode())
            pump = threading.Thread(target=relay.pump_tester, daemon=True)
            pump.start()
            deadline_s = limits.timeout_s + settings.deadline_grace_s
            timed_out, state = wait_for_exit(tester, deadline_s, relay.tester.overflowed)
            pump.join(timeout=10)
            tester.reload()
            run = ContainerRun(
                name=tester_name,
                runtime=runtime,
                exit_code=None if timed_out else int(state.get("StatusCode", -1)),
                timed_out=timed_out,
                oom_killed=bool(tester.attrs["State"].get("OOMKilled")),
                output=bytes(relay.tester.output),
                output_bytes=relay.tester.total,
                output_truncated=relay.tester.overflowed.is_set(),
                duration=round(time.monotonic() - started, 3),
            )
        finally:
            relay.close()
            for name in relay.names:
                remove_by_name(name)
    if relay.system_error is not None:
        raise relay.system_error
    report = parse_harness_stream(run.output, token)
    check_not_interrupted(run, report.end is not None)
    return RunFacts(
        report=report,
        container=run,
        canaries=canaries,
        commit=commit,
        mode="unit",
        notices=snapshot_notices(snapshot),
        learner=_learner_facts(relay.learner),
    )


def _learner_facts(record: LearnerRecord) -> LearnerFacts:
    return LearnerFacts(
        starts=record.starts,
        restarts=record.restarts_asked,
        planned_restarts=record.planned_restarts,
        exits=record.exits,
        oom_killed=record.oom_killed,
        flooded=record.flooded,
        floods=record.floods,
        output_bytes=record.output_bytes,
    )
