"""One place that connects to the Docker engine, so every caller gets the same clear error."""

from __future__ import annotations

import threading
import time
from functools import lru_cache

import docker
from docker.errors import DockerException

from grader.core.errors import SystemFault


class EngineUnavailable(SystemFault, RuntimeError):
    """The Docker engine cannot be reached: a fault of the system, not of the submission."""


@lru_cache(maxsize=1)
def docker_client() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except DockerException as exc:
        raise EngineUnavailable(
            f"cannot reach the Docker engine ({exc}); run scripts/ensure-docker.sh to install and start it"
        ) from exc
    return client


# `docker info` costs a round trip of tens of milliseconds per grade. A set that offers gVisor is kept
# for RUNTIMES_TTL_S; one without it is asked for again every time, so a cache never keeps a worker
# on runc once runsc is offered (and a runtime that went away fails its container's creation, a
# fault of the system that is retried).
RUNTIMES_TTL_S = 60.0
_runtimes_lock = threading.Lock()
_runtimes: tuple[float, frozenset[str]] | None = None


def available_runtimes() -> set[str]:
    """The container runtimes the engine offers. Raises EngineUnavailable when it cannot be reached."""
    global _runtimes
    with _runtimes_lock:
        if _runtimes is not None and time.monotonic() - _runtimes[0] < RUNTIMES_TTL_S:
            return set(_runtimes[1])
    info = docker_client().info()
    found = frozenset((info.get("Runtimes") or {}).keys())
    with _runtimes_lock:
        _runtimes = (time.monotonic(), found) if "runsc" in found else None
    return set(found)
