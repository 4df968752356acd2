"""Sandboxed containers: every restriction of DESIGN.md "Sandbox", and nothing left behind.

The worker owns the clock: a container that outlives its deadline is killed and removed by name,
and its output is read with a cap, so neither a hang nor a flood can hurt the worker.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from docker.errors import APIError, DockerException, NotFound
from docker.models.containers import Container
from docker.types import LogConfig, Mount, Ulimit
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import ReadTimeout, RequestException
from urllib3.exceptions import ReadTimeoutError

from grader.config import Settings, get_settings
from grader.core.errors import SystemFault
from grader.core.run_report import ContainerRun
from grader.core.spec import Limits
from grader.sandbox.engine import available_runtimes, docker_client
from grader.sandbox.workspaces import host_name, process_token
from grader_harness.protocol import SUBMISSION_DIR, TESTS_ROOT

LABEL = "io.capstone-grader.run"
NETWORK_LABEL = "io.capstone-grader.network"
OWNER_LABEL = "io.capstone-grader.owner"
# The worker process that made a sandbox, and its host (grader.sandbox.workspaces): the janitor removes
# what a dead process left behind.
PROCESS_LABEL = "io.capstone-grader.process"
HOST_LABEL = "io.capstone-grader.host"
OWNER_ENV = "GRADER_SANDBOX_OWNER"  # Settings.sandbox_owner
# A container killed by a signal (128 + SIGKILL or SIGTERM) that the worker did not send.
_KILLED_EXITS = (137, 143)


def sandbox_owner() -> str:
    """Who started a sandbox: one label value per installation (or per test session), so that a check
    for leftovers sees only its own containers when several graders share one engine."""
    return get_settings().sandbox_owner


def sandbox_labels(kind_label: str, name: str) -> dict[str, str]:
    """The labels of every container and network a worker makes."""
    return {kind_label: name, OWNER_LABEL: sandbox_owner(), PROCESS_LABEL: process_token(), HOST_LABEL: host_name()}


class SandboxInterrupted(SystemFault, RuntimeError):
    """The run was cut short from outside the sandbox (the Docker engine went away or restarted and took
    the containers with it): a fault of the system, retried, never the learner's."""

    code = "sandbox-interrupted"


CONTAINER_UID = "1000:1000"
# Under gVisor the engine's pids limit also counts the sandbox kernel's own threads.
RUNSC_PIDS_HEADROOM = 128
LOG_HEADROOM = 8 * 1024 * 1024


class SandboxUnavailable(SystemFault, RuntimeError):
    """The sandbox cannot be set up as policy demands (for example gVisor required but missing)."""


def choose_runtime(settings: Settings, needs_network: bool = False) -> str:
    """runsc (gVisor) where the engine offers it; runc for service networks, which runsc cannot set up here."""
    runtimes = available_runtimes()
    if settings.runtime in ("runsc", "runc"):
        wanted = settings.runtime
    else:
        wanted = "runsc" if "runsc" in runtimes and not needs_network else "runc"
    if settings.require_gvisor and wanted != "runsc" and not needs_network:
        raise SandboxUnavailable("gVisor is required (GRADER_REQUIRE_GVISOR) but the engine does not offer runsc")
    if wanted not in runtimes:
        raise SandboxUnavailable(f"the Docker engine does not offer the {wanted!r} runtime; it has {sorted(runtimes)}")
    return wanted


def _log_cap(limits: Limits) -> str:
    """Room for the learner's capped output (up to 3 bytes a byte as UTF-8 JSON) and the harness's events."""
    return f"{(3 * limits.output_kb * 1024 + LOG_HEADROOM) // (1024 * 1024) + 1}m"


def hardened_options(limits: Limits, runtime: str, name: str) -> dict[str, Any]:
    """Container options shared by every sandboxed container."""
    memory = f"{limits.memory_mb}m"
    return {
        "name": name,
        "user": CONTAINER_UID,
        "network_mode": "none",
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={limits.disk_mb}m,mode=1777"},
        "mem_limit": memory,
        "memswap_limit": memory,
        "nano_cpus": int(limits.cpus * 1e9),
        "pids_limit": limits.pids + (RUNSC_PIDS_HEADROOM if runtime == "runsc" else 0),
        "ulimits": [
            Ulimit(name="nofile", soft=256, hard=256),
            Ulimit(name="core", soft=0, hard=0),
            Ulimit(name="fsize", soft=limits.disk_mb * 1024 * 1024, hard=limits.disk_mb * 1024 * 1024),
        ],
        "init": True,
        "runtime": runtime,
        # The engine keeps a container's output in a file on the host: capped, so that output written
        # faster than the worker reads it (or never read) cannot fill the host's disk.
        "log_config": LogConfig(type=LogConfig.types.JSON, config={"max-size": _log_cap(limits), "max-file": "2"}),
        "labels": sandbox_labels(LABEL, name),
        "environment": {"LANG": "C.UTF-8"},
        "detach": True,
        "stdin_open": True,
        "auto_remove": False,
    }


def new_run_name(prefix: str = "grader-run") -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


def remove_by_name(name: str) -> None:
    """Remove a container whatever its state; an engine that is down leaves it to the janitor."""
    with contextlib.suppress(DockerException, RequestException):
        docker_client().containers.get(name).remove(force=True)


def _send_stdin(container: Container, payload: bytes) -> None:
    sock = container.attach_socket(params={"stdin": 1, "stream": 1})
    raw: socket.socket = getattr(sock, "_sock", None) or sock  # type: ignore[assignment]
    raw.sendall(payload)
    with contextlib.suppress(OSError):
        raw.shutdown(socket.SHUT_WR)
    raw.close()


class _CappedReader(threading.Thread):
    """Reads a container's stdout (and optionally stderr) in the background, keeping at most `limit` bytes."""

    def __init__(self, container: Container, limit: int, stderr: bool = False) -> None:
        super().__init__(daemon=True)
        self.container = container
        self.limit = limit
        self.stderr = stderr
        self.buffer = bytearray()
        self.total = 0
        self.overflowed = threading.Event()

    def run(self) -> None:
        with contextlib.suppress(APIError, OSError, ValueError):
            for chunk in self.container.logs(stdout=True, stderr=self.stderr, stream=True, follow=True):
                self.total += len(chunk)
                room = self.limit - len(self.buffer)
                if room > 0:
                    self.buffer.extend(chunk[:room])
                if self.total > self.limit:
                    self.overflowed.set()
                    return


def _still_running(exc: Exception) -> bool:
    """Whether a wait's error only means the container still runs: the SDK's read timeout (which
    requests reports as a ConnectionError over the engine's unix socket), not a lost engine."""
    if isinstance(exc, ReadTimeout):
        return True
    cause = exc.args[0] if isinstance(exc, RequestsConnectionError) and exc.args else None
    return isinstance(cause, ReadTimeoutError)


def wait_for_exit(
    container: Container, deadline_s: float, overflowed: threading.Event, started: float | None = None
) -> tuple[bool, dict[str, Any]]:
    """Wait for `container` to stop; kill it at the deadline (counted from `started`) or once its output
    overflowed. Returns (timed_out, the engine's wait result)."""
    started = time.monotonic() if started is None else started
    timed_out = False
    try:
        while True:
            if overflowed.is_set():
                # The container may have finished already (its output is buffered by the engine, so a
                # flood can end before the reader gets to its cap): killing it then is a 409, not a fault.
                with contextlib.suppress(APIError):
                    container.kill()
                break
            try:
                container.wait(timeout=0.5)
                break
            except Exception as exc:
                if not _still_running(exc):
                    raise
                if time.monotonic() - started > deadline_s:
                    timed_out = True
                    with contextlib.suppress(APIError):
                        container.kill()
                    break
        return timed_out, dict(container.wait(timeout=30))
    except (RequestsConnectionError, NotFound) as exc:
        raise SandboxInterrupted(f"the Docker engine went away during the run ({type(exc).__name__})") from exc


def check_not_interrupted(run: ContainerRun, reported_end: bool) -> None:
    """Raises SandboxInterrupted when a tester container was killed by a signal the worker did not send
    (not its deadline, not its output cap, not out of memory) before its harness reported the end: the
    engine stopped it (a restart of the Docker engine stops every container). The harness ignores
    SIGTERM, and in isolated and service mode no learner code runs beside it, so nothing but a kill from
    outside ends it this way. Not for in-process mode, where learner code could kill the harness."""
    if run.timed_out or run.output_truncated or run.oom_killed or reported_end:
        return
    if run.exit_code in _KILLED_EXITS:
        raise SandboxInterrupted(
            f"the sandbox {run.name} was stopped from outside (exit {run.exit_code}) before the tests had "
            "finished: the Docker engine stopped or restarted"
        )


@contextlib.contextmanager
def container_guard(name: str) -> Iterator[None]:
    """Whatever happens, the container named `name` is gone afterwards."""
    try:
        yield
    finally:
        remove_by_name(name)


def _on_network(options: dict[str, Any], network: str | None, aliases: list[str] | None = None) -> dict[str, Any]:
    """Attach to a (service mode) internal network instead of none."""
    if network is None:
        return options
    options = {k: v for k, v in options.items() if k != "network_mode"}
    options["network"] = network
    if aliases:
        endpoint = docker_client().api.create_endpoint_config(aliases=aliases)
        options["networking_config"] = {network: endpoint}
    return options


def run_container(
    image: str,
    limits: Limits,
    settings: Settings,
    *,
    stdin_payload: dict[str, Any],
    mounts: list[Mount],
    runtime: str,
    output_limit: int,
    name: str | None = None,
    extra: dict[str, Any] | None = None,
    network: str | None = None,
    extra_time_s: float = 0.0,
) -> ContainerRun:
    """Run one hardened container to completion or deadline and return what was observed.

    `extra_time_s` lengthens the worker's deadline beyond the spec's timeout (service mode waits for
    the learner's service to be ready before the test clock starts).
    """
    name = name or new_run_name()
    options = _on_network(hardened_options(limits, runtime, name) | {"mounts": mounts} | (extra or {}), network)
    deadline_s = limits.timeout_s + settings.deadline_grace_s + extra_time_s
    with container_guard(name):
        container = docker_client().containers.create(image, **options)
        started = time.monotonic()
        container.start()
        _send_stdin(container, (json.dumps(stdin_payload) + "\n").encode())
        reader = _CappedReader(container, output_limit)
        reader.start()
        timed_out, state = wait_for_exit(container, deadline_s, reader.overflowed, started)
        reader.join(timeout=10)
        container.reload()
        duration = time.monotonic() - started
        return ContainerRun(
            name=name,
            runtime=runtime,
            exit_code=None if timed_out else int(state.get("StatusCode", -1)),
            timed_out=timed_out,
            oom_killed=bool(container.attrs["State"].get("OOMKilled")),
            output=bytes(reader.buffer),
            output_bytes=reader.total,
            output_truncated=reader.overflowed.is_set(),
            duration=round(duration, 3),
        )


def unit_mounts(suites: dict[str, Path], snapshot: Path) -> list[Mount]:
    mounts = [Mount(target=SUBMISSION_DIR, source=str(snapshot), type="bind", read_only=True)]
    mounts.extend(
        Mount(target=f"{TESTS_ROOT}/{suite}", source=str(path), type="bind", read_only=True)
        for suite, path in suites.items()
    )
    return mounts


def tests_mounts(suites: dict[str, Path]) -> list[Mount]:
    """Service mode's tester: the author's suites only, never the learner's snapshot."""
    return [
        Mount(target=f"{TESTS_ROOT}/{suite}", source=str(path), type="bind", read_only=True)
        for suite, path in suites.items()
    ]


@contextlib.contextmanager
def internal_network(prefix: str = "grader-net") -> Iterator[str]:
    """A Docker network with no way out: `internal` (no route off the bridge) and no address on the host's
    side of the bridge (`inhibit_ipv4`), so containers on it reach each other by name and nothing else,
    not even the host. Removed afterwards whatever happens."""
    name = new_run_name(prefix)
    client = docker_client()
    network = client.networks.create(
        name,
        driver="bridge",
        internal=True,
        enable_ipv6=False,
        options={"com.docker.network.bridge.inhibit_ipv4": "true"},
        labels=sandbox_labels(NETWORK_LABEL, name),
    )
    try:
        yield name
    finally:
        with contextlib.suppress(DockerException, RequestException):  # an engine that is down: the janitor's
            network.reload()
            for container in network.containers:
                with contextlib.suppress(NotFound, APIError):
                    container.remove(force=True)
            network.remove()


class ServiceContainer:
    """The learner's long-running service (service mode), started detached and observed until removed."""

    def __init__(self, container: Container, reader: _CappedReader) -> None:
        self.container = container
        self.reader = reader

    def state(self) -> dict[str, Any]:
        with contextlib.suppress(NotFound, APIError):
            self.container.reload()
            return dict(self.container.attrs.get("State") or {})
        return {}

    def log(self) -> bytes:
        return bytes(self.reader.buffer)


@contextlib.contextmanager
def service_container(
    image: str,
    limits: Limits,
    *,
    command: str,
    mounts: list[Mount],
    network: str,
    alias: str,
    environment: dict[str, str],
    log_limit: int,
) -> Iterator[ServiceContainer]:
    """Start the learner's service on `network`, reachable as `alias`; removed afterwards whatever happens.

    Always runc: the engine's runsc here is registered with --network=none. Every other restriction of
    hardened_options holds (non-root, no capabilities, read-only root, limits, init).
    """
    name = new_run_name("grader-svc")
    options = hardened_options(limits, "runc", name) | {
        "mounts": mounts,
        "entrypoint": ["/bin/sh", "-c", command],
        "environment": {"LANG": "C.UTF-8"} | environment,
        "stdin_open": False,
        "working_dir": SUBMISSION_DIR,
    }
    with container_guard(name):
        container = docker_client().containers.create(image, **_on_network(options, network, [alias]))
        container.start()
        reader = _CappedReader(container, log_limit, stderr=True)
        reader.start()
        yield ServiceContainer(container, reader)


def leftover_networks() -> list[str]:
    """Names of service-mode networks still present (there should never be any after a run)."""
    mine = [NETWORK_LABEL, f"{OWNER_LABEL}={sandbox_owner()}"]
    return [str(n.name) for n in docker_client().networks.list(filters={"label": mine})]


def _containers(labels: list[str]) -> list[Container]:
    """Containers with every label, inspected one by one: one removed meanwhile is left out, not an error."""
    found = []
    for sparse in docker_client().containers.list(all=True, sparse=True, filters={"label": labels}):
        with contextlib.suppress(NotFound):
            sparse.reload()
            found.append(sparse)
    return found


def leftover_containers() -> list[str]:
    """Names of sandbox containers still present (there should never be any after a run)."""
    return [str(c.name) for c in _containers([LABEL, f"{OWNER_LABEL}={sandbox_owner()}"])]


@dataclass(frozen=True)
class Sandbox:
    """A container, network or untagged image this installation made, as the janitor sees it."""

    kind: str  # "container" | "network" | "image"
    name: str
    labels: dict[str, str]
    running: bool = False
    created: datetime | None = None
    finished: datetime | None = None
    members: int = 0  # containers attached (networks)


_ENGINE_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)$")


def _instant(text: str | None) -> datetime | None:
    """The engine's RFC 3339 times (nanoseconds, "Z" or an offset); its zero time ("0001-...") means never."""
    match = _ENGINE_TIME.match(text or "")
    if match is None or match[1].startswith("0001-"):
        return None
    zone = "+00:00" if match[2] == "Z" else match[2]
    return datetime.fromisoformat(match[1] + zone).astimezone(UTC)


def owned_sandboxes() -> list[Sandbox]:
    """Every container, network and untagged (half-built) image carrying this installation's owner label."""
    client = docker_client()
    owner = f"{OWNER_LABEL}={sandbox_owner()}"
    found: list[Sandbox] = []
    for container in _containers([owner]):
        state = container.attrs.get("State") or {}
        found.append(
            Sandbox(
                kind="container",
                name=str(container.name),
                labels=dict(container.labels or {}),
                running=bool(state.get("Running")),
                created=_instant(container.attrs.get("Created")),
                finished=_instant(state.get("FinishedAt")),
            )
        )
    for network in client.networks.list(filters={"label": owner}):
        try:
            network.reload()
        except NotFound:
            continue
        found.append(
            Sandbox(
                kind="network",
                name=str(network.name),
                labels=dict(network.attrs.get("Labels") or {}),
                created=_instant(network.attrs.get("Created")),
                members=len(network.attrs.get("Containers") or {}),
            )
        )
    for image in client.images.list(filters={"label": owner, "dangling": True}):
        found.append(
            Sandbox(
                kind="image",
                name=str(image.id),
                labels=dict(image.labels or {}),
                created=_instant(image.attrs.get("Created")),
            )
        )
    return found


def remove_sandbox(thing: Sandbox) -> bool:
    """Remove one leftover (a network with whatever is still attached to it); False if the engine refused."""
    client = docker_client()
    try:
        if thing.kind == "container":
            client.containers.get(thing.name).remove(force=True)
        elif thing.kind == "network":
            network = client.networks.get(thing.name)
            network.reload()
            for container in network.containers:
                with contextlib.suppress(NotFound):
                    container.remove(force=True)
            network.remove()
        else:
            client.images.remove(thing.name, force=True)
    except NotFound:
        return True
    except (DockerException, RequestException):
        return False
    return True
