"""Service mode: the learner's project runs in its own container; the author's tests run in another.

    internal network (no egress, no route to the host)
    ┌──────────────────────────────┐        ┌──────────────────────────────────┐
    │ learner container ("service")│ <-HTTP-│ tester container                  │
    │ snapshot (read-only)         │        │ runner image + author's suites    │
    │ spec build + start commands  │        │ harness: readiness probe, pytest  │
    └──────────────────────────────┘        └──────────────────────────────────┘

Learner code never enters the tester, and the tests (hidden ones included) never enter the learner's
container: reading them is not hard there, it is impossible. The tester reaches the service by its
network alias; the tests get the base URL from the environment variable GRADER_SERVICE_URL. Both
containers and the network are removed afterwards whatever happens.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from docker.types import Mount

from grader.config import Settings
from grader.core.errors import AuthorFault
from grader.core.judge import RunFacts, ServiceFacts
from grader.core.run_report import parse_harness_stream
from grader.core.spec import LoadedAssignment, ServiceSpec
from grader.sandbox.containers import (
    SandboxUnavailable,
    ServiceContainer,
    check_not_interrupted,
    internal_network,
    run_container,
    service_container,
    tests_mounts,
)
from grader.sandbox.engine import available_runtimes
from grader.sandbox.unit_mode import OUTPUT_EXPANSION, PROTOCOL_HEADROOM, build_payload, plant_canaries, staged
from grader_harness.protocol import EVENT_PREFIX_BYTES, HOME_DIR, PYCACHE_DIR, SUBMISSION_DIR

SERVICE_ALIAS = "service"
SERVICE_RUNTIME = "runc"  # runsc is registered with --network=none on these engines
URL_VARIABLE = "GRADER_SERVICE_URL"
LOG_TAIL_BYTES = 16 * 1024


def service_runtime(settings: Settings) -> str:
    """runc, the only runtime here that can network; refused when gVisor is required (no learner code
    may then run outside it)."""
    if settings.require_gvisor:
        raise SandboxUnavailable(
            "gVisor is required (GRADER_REQUIRE_GVISOR), but service mode needs a container network, "
            "which this engine's runsc (registered with --network=none) cannot provide"
        )
    if SERVICE_RUNTIME not in available_runtimes():
        raise SandboxUnavailable(f"service mode needs the {SERVICE_RUNTIME!r} runtime, which the engine lacks")
    return SERVICE_RUNTIME


def service_command(service: ServiceSpec) -> str:
    """The shell script the learner's container runs: the spec's build, then its start command.

    Both commands come from the author's spec, never from the learner's repository.
    """
    lines = ["set -e", f"mkdir -p {HOME_DIR} {PYCACHE_DIR}"]
    if service.build:
        lines.append(service.build)
    lines.append(service.start)
    return "\n".join(lines) + "\n"


def service_environment(service: ServiceSpec) -> dict[str, str]:
    return {
        "PORT": str(service.port),
        "HOME": HOME_DIR,
        "TMPDIR": "/tmp",
        "PATH": "/opt/venv/bin:/usr/local/bin:/usr/bin:/bin",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPYCACHEPREFIX": PYCACHE_DIR,
        "PYTHONUNBUFFERED": "1",
    }


def base_url(service: ServiceSpec) -> str:
    return f"http://{SERVICE_ALIAS}:{service.port}"


def _facts(learner: ServiceContainer) -> ServiceFacts:
    state = learner.state()
    running = bool(state.get("Running"))
    log = learner.log()
    return ServiceFacts(
        running_at_end=running,
        exit_code=None if running else int(state.get("ExitCode", -1)),
        oom_killed=bool(state.get("OOMKilled")),
        log=log[-LOG_TAIL_BYTES:].decode("utf-8", "replace"),
        log_bytes=learner.reader.total,
        protocol_in_output=log.count(EVENT_PREFIX_BYTES),
    )


def run_service(assignment: LoadedAssignment, image: str, snapshot: Path, commit: str, settings: Settings) -> RunFacts:
    spec = assignment.spec
    service = spec.service
    if service is None:
        raise AuthorFault(f"{spec.id} is not a service-mode assignment (no 'service' block)", field="service")
    limits = spec.limits
    runtime = service_runtime(settings)
    token = secrets.token_urlsafe(24)
    canaries = plant_canaries(assignment)
    output_limit = limits.output_kb * 1024
    url = base_url(service)
    with staged(assignment, settings) as suites, internal_network() as network:
        snapshot_mount = Mount(target=SUBMISSION_DIR, source=str(snapshot), type="bind", read_only=True)
        with service_container(
            image,
            limits,
            command=service_command(service),
            mounts=[snapshot_mount],
            network=network,
            alias=SERVICE_ALIAS,
            environment=service_environment(service),
            log_limit=output_limit,
        ) as learner:
            payload = build_payload(assignment, suites, token, canaries, submission=None, output_limit=output_limit)
            payload["service"] = {
                "url": url,
                "ready_url": url + service.ready.path,
                "ready_timeout_s": service.ready.timeout_s,
            }
            container = run_container(
                image,
                limits,
                settings,
                stdin_payload=payload,
                mounts=tests_mounts(suites.dirs),
                runtime=runtime,
                output_limit=OUTPUT_EXPANSION * output_limit + PROTOCOL_HEADROOM,
                network=network,
                extra_time_s=service.ready.timeout_s,
            )
            facts = _facts(learner)
    report = parse_harness_stream(container.output, token)
    check_not_interrupted(container, report.end is not None)
    if report.end is not None and facts.log:
        # What the run printed, for the author: the tests' output, then the tail of the service's own.
        report.end.output += f"\n--- output of the service ({facts.log_bytes} bytes, tail) ---\n{facts.log}"
    return RunFacts(report=report, container=container, canaries=canaries, commit=commit, mode="service", service=facts)
